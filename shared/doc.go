// Package shared is the root of signoff's shared module: configuration,
// the event contract, NATS wiring, signing keys and the worker framework
// that every signoff service and every outside worker builds on.
package shared
