// Live notifications over the WebSocket of API.md, for browsers (and any runtime with a
// WebSocket and fetch). Dependency-free ES module.
//
//   const client = new NotificationsClient({ baseUrl: "", access, refresh });
//   client.addEventListener("notification", (e) => show(e.detail));
//   client.addEventListener("state", (e) => indicator(e.detail.state));
//   client.start();
//
// What it does for you:
// - sends the token in the Sec-WebSocket-Protocol header ("bearer", token), never in the URL;
// - reconnects with exponential backoff and jitter, and resumes with `since` = the last seq
//   it saw, so nothing is lost while it was away;
// - refreshes the access token before it expires (POST /api/auth/refresh/, then the
//   {"type":"refresh"} frame on the open socket), and after a 4401 close;
// - drops a notification it already delivered (same id), e.g. one replayed after a resume;
// - pings now and then, and treats a missing pong as a dead connection.
//
// Events (all CustomEvent, payload in `detail`):
//   "notification"  the notification object of API.md
//   "state"         {state, previous, retryIn?}: "connecting" | "connected" | "reconnecting"
//                   | "offline" (stopped, signed out, or the browser has no network)
//   "tokens"        {access, refresh}: new tokens after a refresh (persist them if you keep any)
//   "auth-failed"   {code, detail}: the session cannot be renewed; the client has stopped
//   "server-error"  {code, detail}: an {"type":"error"} frame from the server

export const CLOSE_TOKEN_EXPIRED = 4401;

const DEFAULTS = {
  initialDelay: 500, // ms before the first retry
  maxDelay: 30000, // backoff ceiling, ms
  factor: 2,
  pingInterval: 25000, // ms between pings on an idle connection
  pongTimeout: 10000, // ms without a pong before the connection is declared dead
  refreshMargin: 30, // s before expiry at which the access token is renewed
  seenLimit: 2000, // ids remembered for duplicate detection
};

// Exponential backoff with "equal jitter": half the step is fixed, half random, so retries
// from many clients spread out but none retries immediately in a tight loop.
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const { initialDelay, maxDelay, factor } = { ...DEFAULTS, ...options };
  const step = Math.min(maxDelay, initialDelay * factor ** Math.max(0, attempt));
  return Math.round(step / 2 + random() * (step / 2));
}

// The `exp` claim of a JWT in seconds since the epoch, or null when it cannot be read. The
// signature is not checked: the server does that; the client only needs to know when to renew.
export function tokenExpiry(token) {
  try {
    const part = String(token).split(".")[1];
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    const claims = JSON.parse(atob(padded));
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch {
    return null;
  }
}

// Insertion-ordered set with a size limit: remembers the most recent ids only.
export class SeenIds {
  constructor(limit = DEFAULTS.seenLimit) {
    this.limit = limit;
    this.ids = new Set();
  }

  // true when the id is new (and now remembered), false for a duplicate
  add(id) {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.limit) this.ids.delete(this.ids.values().next().value);
    return true;
  }
}

// ws://host/ws/notifications/ from an http(s) base URL ("" = this page's origin).
export function socketUrl(baseUrl, since) {
  const origin = baseUrl || globalThis.location?.origin || "http://localhost:8000";
  const url = new URL("/ws/notifications/", origin);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (since !== null && since !== undefined) url.searchParams.set("since", String(since));
  return url.toString();
}

export class NotificationsClient extends EventTarget {
  constructor({
    baseUrl = "",
    access,
    refresh = null,
    since = null,
    WebSocketImpl = globalThis.WebSocket,
    fetchImpl = (...args) => globalThis.fetch(...args),
    random = Math.random,
    ...options
  }) {
    super();
    this.baseUrl = baseUrl;
    this.access = access;
    this.refreshToken = refresh;
    this.lastSeq = since;
    this.options = { ...DEFAULTS, ...options };
    this.WebSocketImpl = WebSocketImpl;
    this.fetchImpl = fetchImpl;
    this.random = random;
    this.seen = new SeenIds(this.options.seenLimit);
    this.state = "offline";
    this.socket = null;
    this.attempt = 0;
    this.running = false;
    this.renewing = null;
    this.renewedThisOutage = false;
    this.timers = { retry: null, refresh: null, ping: null, pong: null };
    this.onOnline = () => this.running && this.state !== "connected" && this.reconnectNow();
    this.onOffline = () => this.running && this.dropSocket("offline");
  }

  // --- public -------------------------------------------------------------------------
  start() {
    if (this.running) return;
    this.running = true;
    globalThis.addEventListener?.("online", this.onOnline);
    globalThis.addEventListener?.("offline", this.onOffline);
    this.scheduleRefresh();
    this.connect("connecting");
  }

  stop() {
    this.running = false;
    globalThis.removeEventListener?.("online", this.onOnline);
    globalThis.removeEventListener?.("offline", this.onOffline);
    this.clearTimers();
    this.closeSocket(1000, "client stopped");
    this.setState("offline");
  }

  // Drop the connection as a network failure would; the client reconnects and resumes.
  // The console's "reconnect" button and the tests use it.
  reconnectNow() {
    if (!this.running) return;
    clearTimeout(this.timers.retry);
    this.closeSocket(4000, "client reconnect");
    this.attempt = 0;
    this.connect("reconnecting");
  }

  // --- connection ---------------------------------------------------------------------
  async connect(state) {
    this.setState(state);
    if (globalThis.navigator?.onLine === false) {
      this.setState("offline");
      return;
    }
    // A token about to expire would be refused at the handshake, which a browser reports
    // only as "closed": renew it first.
    if (this.expiresWithin(this.options.refreshMargin) && !(await this.renew())) return;
    if (!this.running) return;
    let socket;
    try {
      socket = new this.WebSocketImpl(socketUrl(this.baseUrl, this.lastSeq), [
        "bearer",
        this.access,
      ]);
    } catch (error) {
      this.retryLater();
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      opened = true;
      this.attempt = 0;
      this.renewedThisOutage = false;
      this.setState("connected");
      this.schedulePing();
    };
    socket.onmessage = (event) => {
      if (socket === this.socket) this.receive(event.data);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.clearConnectionTimers();
      if (!this.running) return;
      const refusedAgain = !opened && this.attempt >= 2 && !this.renewedThisOutage;
      if (event.code === CLOSE_TOKEN_EXPIRED || refusedAgain) {
        // An expired token, or a handshake refused again and again: a refused (revoked)
        // token looks exactly like that from a browser, so renew it once per outage.
        this.renewedThisOutage = true;
        this.renew().then((ok) => ok && this.retryLater());
        return;
      }
      this.retryLater();
    };
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // the server only sends JSON; ignore anything else rather than crash
    }
    if (frame === null || typeof frame !== "object") return;
    if (frame.type === "pong") {
      clearTimeout(this.timers.pong);
      return;
    }
    if (frame.type === "error") {
      this.emit("server-error", { code: frame.code, detail: frame.detail });
      return;
    }
    if (typeof frame.notification_type !== "string") return;
    if (!this.seen.add(frame.id)) return;
    if (typeof frame.seq === "number" && (this.lastSeq === null || frame.seq > this.lastSeq)) {
      this.lastSeq = frame.seq;
    }
    this.emit("notification", frame);
  }

  retryLater() {
    if (!this.running) return;
    const delay = backoffDelay(this.attempt, this.options, this.random);
    this.attempt += 1;
    this.setState("reconnecting", { retryIn: delay });
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.connect("reconnecting"), delay);
  }

  dropSocket(state) {
    this.closeSocket(4000, "network lost");
    this.clearConnectionTimers();
    this.setState(state);
  }

  closeSocket(code, reason) {
    const socket = this.socket;
    this.socket = null;
    this.clearConnectionTimers();
    if (socket && socket.readyState <= 1) {
      try {
        socket.close(code, reason);
      } catch {
        // already closing
      }
    }
  }

  // --- keepalive ----------------------------------------------------------------------
  schedulePing() {
    clearTimeout(this.timers.ping);
    this.timers.ping = setTimeout(() => {
      const socket = this.socket;
      if (!socket || socket.readyState !== 1) return;
      socket.send(JSON.stringify({ type: "ping", timestamp: Date.now() }));
      this.timers.pong = setTimeout(() => {
        // No answer: the connection is dead even if the socket does not know it yet.
        if (socket === this.socket) {
          this.closeSocket(4000, "no pong");
          this.retryLater();
        }
      }, this.options.pongTimeout);
      this.schedulePing();
    }, this.options.pingInterval);
  }

  // --- tokens -------------------------------------------------------------------------
  expiresWithin(seconds) {
    const exp = tokenExpiry(this.access);
    return exp !== null && exp - Date.now() / 1000 < seconds;
  }

  scheduleRefresh() {
    clearTimeout(this.timers.refresh);
    const exp = tokenExpiry(this.access);
    if (exp === null || !this.refreshToken) return;
    const lifetime = exp - Date.now() / 1000;
    // Renew at `refreshMargin` seconds before expiry, or half-way for very short lifetimes.
    const margin = Math.min(this.options.refreshMargin, lifetime / 2);
    const wait = Math.max(0, (lifetime - margin) * 1000);
    this.timers.refresh = setTimeout(() => this.renew(), Math.min(wait, 2 ** 31 - 1));
  }

  // Trade the refresh token for new tokens; tell the open socket. false when it failed.
  async renew() {
    if (!this.refreshToken) {
      this.fail("token_expired", "The session expired and cannot be renewed: sign in again.");
      return false;
    }
    if (!this.renewing) {
      this.renewing = this.requestTokens().finally(() => {
        this.renewing = null;
      });
    }
    return this.renewing;
  }

  async requestTokens() {
    let response;
    try {
      response = await this.fetchImpl(new URL("/api/auth/refresh/", this.origin()).toString(), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh: this.refreshToken }),
      });
    } catch {
      // Network trouble: keep the old token, try again later.
      this.retryLater();
      return false;
    }
    if (!response.ok) {
      let body = {};
      try {
        body = await response.json();
      } catch {
        // not JSON
      }
      if (response.status === 401 || response.status === 403) {
        this.fail(body.code || "invalid_token", body.detail || "The session cannot be renewed.");
      } else {
        this.retryLater();
      }
      return false;
    }
    const tokens = await response.json();
    this.access = tokens.access;
    this.refreshToken = tokens.refresh;
    this.emit("tokens", { access: tokens.access, refresh: tokens.refresh });
    const socket = this.socket;
    if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify({ type: "refresh", token: tokens.access }));
    }
    this.scheduleRefresh();
    return true;
  }

  fail(code, detail) {
    this.emit("auth-failed", { code, detail });
    this.stop();
  }

  // --- plumbing -----------------------------------------------------------------------
  origin() {
    return this.baseUrl || globalThis.location?.origin || "http://localhost:8000";
  }

  setState(state, extra = {}) {
    if (state === this.state && !extra.retryIn) return;
    const previous = this.state;
    this.state = state;
    this.emit("state", { state, previous, ...extra });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  clearConnectionTimers() {
    clearTimeout(this.timers.ping);
    clearTimeout(this.timers.pong);
  }

  clearTimers() {
    for (const timer of Object.values(this.timers)) clearTimeout(timer);
  }
}
