// Package e2e is signoff's multi-process end-to-end test (make e2e). It has
// no code of its own outside its tests.
//
// TestEndToEnd builds the real binaries (front, backchannel, webhook,
// events and nats-server) and runs the distributed topology as separate
// processes on loopback: a three-node NATS JetStream cluster
// (nats.replicas: 3), two fronts, two back-channel workers, the webhook
// worker and the events worker, all sharing one generated configuration
// and one set of signing keys. The relying parties are HTTP receivers in
// the test process: they verify every logout token against the front's
// jwks_uri (typ, alg, kid, iss, aud, iat, exp, jti, events, sid, sub, no
// nonce) and every webhook's HMAC signature, and count what each client
// received for each session. Two of them answer 503 to the first request
// of some logouts, so that those go through the retry stage. One client
// (rp-eddsa, with pairwise subs) also has logout_events: an app in the
// test process follows its subject signoff.v1.logout.<client_id> as
// docs/events.md tells a Go app to (clientevents.Subscribe, a durable
// consumer of its own) and checks each ClientLogout's client_id, iss, sid,
// sub (the pairwise one) and reason.
//
// The test reports participation for a few hundred sessions through both
// fronts, then ends them through both fronts, by the end-session endpoint
// with an id_token_hint and by DELETE /api/v1/sessions/{sid}. A third of the
// way in, it SIGKILLs a NATS node (the leader of the events stream), a
// back-channel worker and the events worker (which has no replica: its
// logouts wait for it); two thirds of the way in, it restarts them all at
// once on the same ports and store (a worker that reaches the node while it
// catches up waits for it). Fronts may answer 503 while JetStream elects
// new leaders: such requests are retried a bounded number of times, and
// counted.
//
// It then waits, up to a deadline, until
//
//   - every client received a valid logout token (back-channel), a
//     validly signed webhook or a valid ClientLogout on its subject
//     (events) for every session it took part in;
//   - GET /api/v1/sessions/{sid} on both fronts shows the session ended
//     with the same logout id and every expected delivery, with its
//     channel, delivered;
//   - the progress records stored in the SIGNOFF_STATE stream, read as they
//     are written by an ordered consumer, hold exactly one "delivered" per
//     logout, channel and client: no delivery was recorded twice.
//
// Then the SIGNOFF_EVENTS stream must hold, on each client's logout
// subject, exactly one ClientLogout per session that client took part in
// when it has logout_events (with the logout id of the fronts' ledger),
// and none for the other clients: a ClientLogout that the killed events
// worker published but did not record is published again, and must be
// dropped as a duplicate.
//
// A receiver may get the same logout twice: delivery is at least once, and
// a worker killed between a POST and the record of its outcome, or unable
// to store that record while JetStream elects new leaders, repeats it; the
// app gets a ClientLogout again when its acknowledgement was lost.
// Such repeats are counted and reported; the test fails on a repeat that
// no failure explains: one whose first POST came outside the failure window
// (see repeatWindowBefore). It also fails when a process exits on its own,
// except a NATS node that exits while it starts: that one is restarted, as
// a supervisor would, and the report says so (signoff's own processes wait
// for a cluster that forms or recovers, and get no second chance).
//
// With -short the test is skipped. Set E2E_KEEP=1 to keep the processes'
// logs and data after a run (their directory is logged).
package e2e
