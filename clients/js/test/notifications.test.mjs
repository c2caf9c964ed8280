// Unit tests of the notifications client without sockets: `node --test clients/js/test/`.
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import { ApiClient, ApiError } from "../api.js";
import {
  backoffDelay,
  NotificationsClient,
  SeenIds,
  socketUrl,
  tokenExpiry,
} from "../notifications.js";

const fakeToken = (exp) =>
  `e30.${Buffer.from(JSON.stringify({ exp, sub: "1" })).toString("base64url")}.sig`;

class FakeSocket {
  static instances = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.instances.push(this);
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  // test side
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(frame) {
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

const note = (seq, id = `id-${seq}`) => ({
  id,
  seq,
  notification_type: "ticket_created",
  message: `m${seq}`,
  ticket: { id: 1 },
  timestamp: "2025-12-23T10:00:00Z",
});

const tick = () => new Promise((resolve) => setImmediate(resolve));

let clients = [];
function makeClient(options = {}) {
  const client = new NotificationsClient({
    baseUrl: "http://example.test",
    access: fakeToken(Date.now() / 1000 + 3600),
    refresh: "r1",
    WebSocketImpl: FakeSocket,
    random: () => 0.5,
    initialDelay: 1,
    maxDelay: 4,
    ...options,
  });
  clients.push(client);
  return client;
}

function collect(client, type) {
  const seen = [];
  client.addEventListener(type, (e) => seen.push(e.detail));
  return seen;
}

beforeEach(() => {
  FakeSocket.instances = [];
});
afterEach(() => {
  for (const client of clients) client.stop();
  clients = [];
});

test("backoff grows exponentially up to the ceiling, with jitter in the upper half", () => {
  const opts = { initialDelay: 100, maxDelay: 1000, factor: 2 };
  assert.equal(backoffDelay(0, opts, () => 0), 50);
  assert.equal(backoffDelay(0, opts, () => 1), 100);
  assert.equal(backoffDelay(3, opts, () => 0), 400);
  assert.equal(backoffDelay(10, opts, () => 1), 1000);
  assert.equal(backoffDelay(10, opts, () => 0), 500);
});

test("the expiry of a JWT is read without checking its signature", () => {
  assert.equal(tokenExpiry(fakeToken(1234)), 1234);
  assert.equal(tokenExpiry("not a token"), null);
});

test("seen ids forget the oldest past the limit", () => {
  const seen = new SeenIds(2);
  assert.equal(seen.add("a"), true);
  assert.equal(seen.add("a"), false);
  seen.add("b");
  seen.add("c");
  assert.equal(seen.add("a"), true);
});

test("the socket URL carries since, never the token", () => {
  assert.equal(socketUrl("https://h.test", 7), "wss://h.test/ws/notifications/?since=7");
  assert.equal(socketUrl("http://h.test:8000", null), "ws://h.test:8000/ws/notifications/");
});

test("connects with the bearer subprotocol and resumes from the last seq", async () => {
  const client = makeClient({ since: 3 });
  const notes = collect(client, "notification");
  client.start();
  await tick();
  const first = FakeSocket.instances[0];
  assert.deepEqual(first.protocols, ["bearer", client.access]);
  assert.equal(first.url, "ws://example.test/ws/notifications/?since=3");
  first.open();
  first.deliver(note(4));
  first.deliver(note(5));
  first.drop();
  await new Promise((resolve) => setTimeout(resolve, 20));
  const second = FakeSocket.instances[1];
  assert.equal(second.url, "ws://example.test/ws/notifications/?since=5");
  second.open();
  second.deliver(note(5)); // replayed twice: dropped
  second.deliver(note(6));
  assert.deepEqual(
    notes.map((n) => n.seq),
    [4, 5, 6],
  );
});

test("reports its state: connecting, connected, reconnecting, offline", async () => {
  const client = makeClient();
  const states = collect(client, "state");
  client.start();
  await tick();
  FakeSocket.instances[0].open();
  FakeSocket.instances[0].drop();
  client.stop();
  assert.deepEqual(
    states.map((s) => s.state),
    ["connecting", "connected", "reconnecting", "offline"],
  );
  assert.equal(states[2].retryIn, 1);
});

test("pongs and errors are not notifications", async () => {
  const client = makeClient();
  const notes = collect(client, "notification");
  const errors = collect(client, "server-error");
  client.start();
  await tick();
  const socket = FakeSocket.instances[0];
  socket.open();
  socket.deliver({ type: "pong", timestamp: 1 });
  socket.deliver({ type: "error", code: "bad_frame", detail: "no" });
  socket.deliver("not json");
  assert.equal(notes.length, 0);
  assert.deepEqual(errors, [{ code: "bad_frame", detail: "no" }]);
});

test("a 4401 close renews the token, then reconnects with the new one", async () => {
  const requests = [];
  const fetchImpl = async (url, init) => {
    requests.push({ url, body: JSON.parse(init.body) });
    return { ok: true, status: 200, json: async () => ({ access: fakeToken(9e9), refresh: "r2" }) };
  };
  const client = makeClient({ fetchImpl });
  const tokens = collect(client, "tokens");
  client.start();
  await tick();
  FakeSocket.instances[0].open();
  FakeSocket.instances[0].drop(4401);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(requests, [{ url: "http://example.test/api/auth/refresh/", body: { refresh: "r1" } }]);
  assert.equal(tokens.length, 1);
  assert.equal(client.refreshToken, "r2");
  assert.deepEqual(FakeSocket.instances[1].protocols, ["bearer", fakeToken(9e9)]);
});

test("a renewal on an open socket sends the refresh frame", async () => {
  const fetchImpl = async () => ({
    ok: true,
    status: 200,
    json: async () => ({ access: "new-access", refresh: "r2" }),
  });
  const client = makeClient({ fetchImpl });
  client.start();
  await tick();
  const socket = FakeSocket.instances[0];
  socket.open();
  assert.equal(await client.renew(), true);
  assert.deepEqual(socket.sent, [{ type: "refresh", token: "new-access" }]);
});

test("an expiring token is renewed before connecting", async () => {
  const fetchImpl = async () => ({
    ok: true,
    status: 200,
    json: async () => ({ access: fakeToken(Date.now() / 1000 + 3600), refresh: "r2" }),
  });
  const client = makeClient({ fetchImpl, access: fakeToken(Date.now() / 1000 + 5) });
  client.start();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(client.refreshToken, "r2");
  assert.equal(FakeSocket.instances.length, 1);
});

test("a refused refresh stops the client and says why", async () => {
  const fetchImpl = async () => ({
    ok: false,
    status: 401,
    json: async () => ({ detail: "The token has been revoked.", code: "invalid_token" }),
  });
  const client = makeClient({ fetchImpl });
  const failures = collect(client, "auth-failed");
  client.start();
  await tick();
  FakeSocket.instances[0].open();
  FakeSocket.instances[0].drop(4401);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(failures, [{ code: "invalid_token", detail: "The token has been revoked." }]);
  assert.equal(client.state, "offline");
  assert.equal(FakeSocket.instances.length, 1);
});

test("the API helper turns error bodies into ApiError with detail and code", async () => {
  const fetchImpl = async () => ({
    ok: false,
    status: 409,
    json: async () => ({
      detail: "A NEW ticket cannot be started.",
      code: "invalid_transition",
      status: "NEW",
    }),
  });
  const api = new ApiClient({ baseUrl: "http://example.test", fetchImpl });
  await assert.rejects(api.startTicket(1), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 409);
    assert.equal(error.code, "invalid_transition");
    assert.equal(error.detail, "A NEW ticket cannot be started. (the ticket is NEW)");
    return true;
  });
});

test("the API helper explains an unreachable server", async () => {
  const api = new ApiClient({
    baseUrl: "http://example.test",
    fetchImpl: async () => {
      throw new TypeError("fetch failed");
    },
  });
  await assert.rejects(api.tickets(), { code: "network_error" });
});
