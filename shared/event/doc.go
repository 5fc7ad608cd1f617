// Package event is signoff's event contract on NATS: the signoff.v1.*
// subjects, the JSON payloads published on them, and how to encode and
// decode them. Workers and custom apps depend on this package; its JSON is
// documented in docs/events.md and pinned by golden files in testdata.
//
// Every subject signoff publishes starts with [Prefix]. Subjects embed
// client ids as single tokens (the configuration rejects client ids that are
// not valid subject tokens) and sids encoded with [SIDToken], because a sid
// is opaque and may hold any printable character.
package event
