//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package http1

import "net"

// peekAlive cannot tell here whether the receiver closed an idle
// connection, so idle connections are never reused: every request dials.
func peekAlive(net.Conn) bool { return false }
