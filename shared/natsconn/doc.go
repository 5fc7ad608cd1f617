// Package natsconn connects a signoff service to NATS JetStream: either an
// external server (nats.url) or a server embedded in the process, and
// declares the streams that every service relies on from one spec
// ([Streams]), so that any service can start first.
package natsconn
