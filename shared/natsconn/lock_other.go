//go:build !unix

package natsconn

// lockStore does not lock on this system: run one process per store
// directory.
func lockStore(string) (func(), error) { return func() {}, nil }
