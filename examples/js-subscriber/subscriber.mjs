// A custom app's side of signoff, in JavaScript: consume the logouts of one
// client from NATS JetStream and end the app's local sessions.
//
// signoff's events worker publishes each logout, as that client sees it, on
// the client's own subject signoff.v1.logout.<client_id> in the stream
// SIGNOFF_EVENTS (docs/events.md). This program binds a durable pull
// consumer filtered to that subject (creating it when it is missing), prints
// each logout as one JSON line and acknowledges it.
//
// signoff publishes a client's logouts only when the client has
// logout_events: true in signoff's configuration; in the sample
// configuration of `make run` (NATS on nats://127.0.0.1:4222), app2 has it:
//
//   npm ci
//   node subscriber.mjs --client app2 --durable my-app-js
//
// Delivery is at least once: a logout may come again (a redelivery after a
// crash, a replayed stream), so the app de-duplicates on logout_id.

import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

import { connect } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";

/** The stream that holds the per-client logouts. */
export const STREAM = "SIGNOFF_EVENTS";

/** How long a graceful stop may take before the program gives up. */
const DRAIN_TIMEOUT_MS = 10_000;

/** The type of every logout, as in shared/event.ClientLogoutType. */
export const LOGOUT_TYPE = "signoff.logout";

/** logoutSubject is the subject of one client's logouts. */
export function logoutSubject(clientId) {
  return `signoff.v1.logout.${clientId}`;
}

/**
 * decodeLogout parses and checks one logout (shared/event.ClientLogout):
 * {type, logout_id, sid?, sids?, sub, iss, client_id, reason, time}. It throws on
 * a payload that can never be handled.
 */
export function decodeLogout(data) {
  const l = JSON.parse(new TextDecoder().decode(data));
  if (l === null || typeof l !== "object") throw new Error("not a JSON object");
  if (l.type !== LOGOUT_TYPE) throw new Error(`type: want ${LOGOUT_TYPE}`);
  for (const k of ["logout_id", "client_id"]) {
    if (typeof l[k] !== "string" || l[k] === "") throw new Error(`${k}: required`);
  }
  if (!l.sid && !l.sub) throw new Error("sid or sub: required");
  return l;
}

/**
 * bindConsumer returns the durable consumer `durable` on SIGNOFF_EVENTS,
 * filtered to clientId's logouts, and creates it when it is missing. Every
 * replica of the app binds the same durable and they share the work.
 */
export async function bindConsumer(nc, clientId, durable) {
  const filter = logoutSubject(clientId);
  // checkAPI: false skips the account info request, which an app restricted
  // to its own consumer may not make (docs/events.md).
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  try {
    const info = await jsm.consumers.info(STREAM, durable);
    if (info.config.filter_subject !== filter) {
      throw new Error(`consumer ${durable} exists with filter ${info.config.filter_subject}, not ${filter}`);
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
    // Replicas that start together may all get here: creating a consumer
    // with the same configuration twice is not an error.
    await jsm.consumers.add(STREAM, {
      durable_name: durable,
      description: `logouts of ${clientId}`,
      filter_subject: filter,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All, // a new durable starts with the logouts still in the stream
      ack_wait: 30_000_000_000, // 30s, in nanoseconds
      max_deliver: -1,
    });
  }
  return jetstream(nc).consumers.get(STREAM, durable);
}

/**
 * consume calls onLogout for each logout of clientId until signal aborts.
 * A logout is acknowledged once onLogout resolves; when it rejects, the
 * logout comes back a second later. A payload that is not a valid logout is
 * terminated: it will never become valid.
 */
export async function consume({ nc, clientId, durable, onLogout, signal, log = () => {} }) {
  const consumer = await bindConsumer(nc, clientId, durable);
  const messages = await consumer.consume({ max_messages: 64 });
  log({ level: "INFO", msg: "subscribed", client_id: clientId, subject: logoutSubject(clientId), durable });
  const stop = () => messages.close().catch(() => {}); // closing is best effort
  if (signal?.aborted) await stop();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    for await (const m of messages) {
      let logout;
      try {
        logout = decodeLogout(m.data);
      } catch (err) {
        log({ level: "ERROR", msg: "dropping an invalid logout", seq: m.seq, err: String(err) });
        m.term();
        continue;
      }
      try {
        await onLogout(logout);
        m.ack();
      } catch (err) {
        log({ level: "WARN", msg: "handling a logout failed, it will come back", logout_id: logout.logout_id, err: String(err) });
        m.nak(1000);
      }
    }
  } finally {
    signal?.removeEventListener("abort", stop);
  }
}

/**
 * newApp returns the illustrative application: its local sessions (sid ->
 * the user, as the sub this client was given) and the logouts it handled.
 * A real app keeps both in shared stores; the handled logout ids for at
 * least nats.event_retention (168h by default).
 */
export function newApp(sessions = new Map(), print = (line) => console.log(JSON.stringify(line))) {
  const handled = new Set();
  return {
    sessions,
    handled,
    onLogout(l) {
      if (handled.has(l.logout_id)) return; // at least once: seen already
      const ended = [];
      for (const [sid, user] of sessions) {
        if (ends(l, sid, user)) {
          sessions.delete(sid);
          ended.push(sid);
        }
      }
      handled.add(l.logout_id);
      print({
        time: new Date().toISOString(), level: "INFO", msg: "logout",
        logout_id: l.logout_id, client_id: l.client_id, sid: l.sid ?? "", sub: l.sub, iss: l.iss,
        reason: l.reason, logout_time: l.time, ended_sessions: ended.sort(),
      });
    },
  };
}

/**
 * ends reports whether logout l ends the local session sid of user: the
 * session of the logout or, when it has no sid (all of a subject's sessions
 * ended), the sessions it lists in sids. Not every session of the user: a
 * newer one may have started since (a new durable replays logouts up to
 * nats.event_retention old). A logout from a signoff without sids ends
 * every session of the user.
 */
function ends(l, sid, user) {
  if (l.sid) return sid === l.sid;
  if (Array.isArray(l.sids) && l.sids.length > 0) return l.sids.includes(sid);
  return user === l.sub;
}

/**
 * serversOf turns comma-separated NATS URLs into connect options. A user and
 * password in a URL (nats://app1:secret@host:4222) become the user and pass
 * options, which nats.js does not take from the URL itself; a user without a
 * password is a token (nats://<token>@host:4222, as signoff's embedded
 * server with nats.listen_token wants), as for the Go client.
 */
export function serversOf(urls) {
  const opts = { servers: [] };
  for (const u of urls.split(",").map((s) => s.trim()).filter(Boolean)) {
    const url = new URL(u);
    // URL does not tell "user:" from "user": the text does (nats.go reads
    // the first as a user with an empty password, the second as a token).
    const userinfo = /^[a-z]+:\/\/([^@/]*)@/i.exec(u)?.[1] ?? "";
    if (userinfo.includes(":")) {
      opts.user = decodeURIComponent(url.username);
      opts.pass = decodeURIComponent(url.password);
    } else if (url.username) {
      opts.token = decodeURIComponent(url.username);
    }
    opts.servers.push(url.host);
  }
  return opts;
}

const USAGE = `usage: node subscriber.mjs [options]

Consumes one client's logouts from signoff (docs/events.md) and prints each
as one JSON line.

  --nats-url URLS       NATS server URLs, comma-separated; a user and password,
                        or a token, may be in a URL (default: $NATS_URL or
                        nats://127.0.0.1:4222)
  --inbox-prefix P      the inbox prefix NATS permissions give this app
                        (_INBOX_app2 in examples/nats-permissions)
  --client ID           the client whose logouts to consume (default: app2)
  --durable NAME        the durable consumer every replica of the app shares
                        (default: my-app-js); no other app may use it
  --sessions S=U,...    the app's local sessions, sid=user (illustration)
  -h, --help            this help
`;

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        "nats-url": { type: "string", default: process.env.NATS_URL ?? "nats://127.0.0.1:4222" },
        "inbox-prefix": { type: "string" },
        client: { type: "string", default: "app2" },
        durable: { type: "string", default: "my-app-js" },
        sessions: { type: "string", default: "" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`js-subscriber: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const sessions = new Map(
    values.sessions.split(",").filter(Boolean).map((pair) => pair.split("=", 2)),
  );
  const log = (line) => console.log(JSON.stringify({ time: new Date().toISOString(), ...line }));
  const nc = await connect({
    ...serversOf(values["nats-url"]),
    name: "signoff-example-js-subscriber",
    inboxPrefix: values["inbox-prefix"],
    maxReconnectAttempts: -1,
  });
  const ac = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.once(sig, () => {
      ac.abort();
      // While NATS is unreachable, a drain cannot finish: give up after a
      // while. What was not acknowledged is redelivered later.
      setTimeout(() => {
        log({ level: "WARN", msg: "stopping without draining: timed out" });
        process.exit(0);
      }, DRAIN_TIMEOUT_MS).unref();
    });
  }

  const app = newApp(sessions);
  await consume({ nc, clientId: values.client, durable: values.durable, onLogout: app.onLogout, signal: ac.signal, log });
  // Stopped taking logouts: acks in flight are flushed, then the
  // connection closes.
  await nc.drain().catch(async (err) => {
    log({ level: "WARN", msg: "closing nats without draining", err: String(err) });
    await nc.close();
  });
  log({ level: "INFO", msg: "stopped", handled: app.handled.size });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error("js-subscriber:", err);
    process.exit(1);
  });
}
