// Tests of subscriber.mjs. The integration test needs a NATS server with
// signoff's streams, where a logout of app1 (EXPECT_LOGOUT_ID) and one of
// app2 were published: `go test ./...` in examples/go-subscriber starts one
// and runs these tests with NATS_URL and EXPECT_LOGOUT_ID set. Without
// them, it is skipped.

import assert from "node:assert/strict";
import { test } from "node:test";

import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";

import { STREAM, consume, decodeLogout, newApp, serversOf } from "./subscriber.mjs";

const enc = (v) => new TextEncoder().encode(JSON.stringify(v));

const golden = {
  type: "signoff.logout",
  logout_id: "01JDX3Q5ZK8Q7W2V9C4T6B1N0M",
  sid: "08a5019c-17e1-4977-8f42-65a12843ea02",
  sub: "pairwise-7f3c",
  iss: "https://idp.example.com",
  client_id: "app2",
  reason: "end_session",
  time: "2026-11-21T12:00:00Z",
};

test("decodeLogout accepts the golden logout and rejects broken ones", () => {
  assert.deepEqual(decodeLogout(enc(golden)), golden);
  assert.deepEqual(decodeLogout(enc({ ...golden, sid: undefined })).sub, "pairwise-7f3c");
  for (const bad of [{ ...golden, type: "x" }, { ...golden, logout_id: "" }, { ...golden, sid: "", sub: "" }, null]) {
    assert.throws(() => decodeLogout(enc(bad)));
  }
  assert.throws(() => decodeLogout(new TextEncoder().encode("{")));
});

test("the app ends the sessions a logout names, once per logout id", () => {
  const lines = [];
  const app = newApp(new Map([["s1", "alice"], ["s2", "alice"], ["s3", "bob"], ["s4", "alice"], ["s5", "alice"]]), (l) => lines.push(l));
  app.onLogout({ ...golden, logout_id: "L1", sid: "s1", sub: "alice" });
  app.onLogout({ ...golden, logout_id: "L1", sid: "s1", sub: "alice" });
  // All of alice's sessions: those it lists, not s4 and s5, which started later.
  app.onLogout({ ...golden, logout_id: "L2", sid: undefined, sids: ["s2"], sub: "alice" });
  assert.deepEqual([...app.sessions.keys()], ["s3", "s4", "s5"]);
  // From a signoff without sids: every session of the user.
  app.onLogout({ ...golden, logout_id: "L3", sid: undefined, sub: "alice" });
  assert.deepEqual(lines.map((l) => [l.logout_id, l.ended_sessions]), [["L1", ["s1"]], ["L2", ["s2"]], ["L3", ["s4", "s5"]]]);
  assert.deepEqual([...app.sessions.keys()], ["s3"]);
});

test("serversOf takes the user and password, or the token, out of NATS URLs", () => {
  assert.deepEqual(serversOf("nats://127.0.0.1:4222"), { servers: ["127.0.0.1:4222"] });
  assert.deepEqual(serversOf("nats://app1:s%40cret@a:4222, nats://b:4223"),
    { servers: ["a:4222", "b:4223"], user: "app1", pass: "s@cret" });
  assert.deepEqual(serversOf("nats://0123456789abcdef@127.0.0.1:4222"),
    { servers: ["127.0.0.1:4222"], token: "0123456789abcdef" }, "a token, as the Go client reads it");
  assert.deepEqual(serversOf("nats://app1:@a:4222"),
    { servers: ["a:4222"], user: "app1", pass: "" }, "a user with an empty password, as the Go client reads it");
});

const url = process.env.NATS_URL;
const expected = process.env.EXPECT_LOGOUT_ID;

test("consume receives its client's logouts and acknowledges them",
  { skip: !(url && expected) && "needs NATS_URL and EXPECT_LOGOUT_ID (go test in examples/go-subscriber sets them)", timeout: 20_000 },
  async () => {
    const nc = await connect({ servers: url });
    const durable = `js-test-${process.pid}`;
    const jsm = await jetstreamManager(nc);
    try {
      const got = [];
      const ac = new AbortController();
      await consume({
        nc, clientId: "app1", durable, signal: ac.signal,
        onLogout: (l) => {
          got.push(l);
          if (l.logout_id === expected) ac.abort();
        },
      });
      assert.ok(got.length > 0);
      for (const l of got) assert.equal(l.client_id, "app1", "only app1's logouts");
      assert.equal(got.at(-1).logout_id, expected);

      // Every logout was acknowledged: nothing is left pending.
      let info;
      for (let i = 0; i < 100; i++) {
        info = await jsm.consumers.info(STREAM, durable);
        if (info.num_ack_pending === 0 && info.num_pending === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(info.num_ack_pending, 0);
      assert.equal(info.num_pending, 0);
      assert.equal(info.config.filter_subject, "signoff.v1.logout.app1");

      // A second start binds the existing durable: nothing comes again.
      const again = [];
      const ac2 = new AbortController();
      setTimeout(() => ac2.abort(), 500);
      await consume({ nc, clientId: "app1", durable, signal: ac2.signal, onLogout: (l) => again.push(l) });
      assert.deepEqual(again, []);

      // The durable is app1's: binding it for another client is refused.
      await assert.rejects(
        consume({ nc, clientId: "app2", durable, onLogout: () => {} }),
        /exists with filter signoff\.v1\.logout\.app1/,
      );
    } finally {
      await jsm.consumers.delete(STREAM, durable).catch(() => {});
      await nc.drain();
    }
  });
