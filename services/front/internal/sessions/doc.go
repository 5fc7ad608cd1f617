// Package sessions connects the front's session index to NATS JetStream:
// it records participations and logouts in the streams (the source of
// truth), projects the streams into the index (on every replica, and again
// after a restart), and takes participation reports published on
// signoff.v1.session.joined.
package sessions
