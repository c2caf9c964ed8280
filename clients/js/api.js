// A tiny client for the HTTP API of API.md, used by the web console. Dependency-free.
//
//   const api = new ApiClient({ baseUrl: "" });
//   const session = await api.login("alice", "secret");   // {access, refresh, user}
//   const tickets = await api.tickets();
//
// Every failure is an ApiError carrying the server's {"detail","code"} (or a network error
// with code "network_error"), so a caller can always show a clear sentence.

export class ApiError extends Error {
  constructor(status, code, detail, body = null) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }
}

// Fallback sentences for bodies that carry no detail (a proxy's 502, say).
const STATUS_SENTENCES = {
  400: "The request was not accepted.",
  401: "You are not signed in, or your session has expired.",
  403: "You are not allowed to do that.",
  404: "That does not exist, or you cannot see it.",
  409: "That conflicts with the current state.",
  422: "Some fields are missing or invalid.",
  429: "Too many requests: wait a moment and try again.",
  500: "The server failed to handle the request.",
  502: "The server is unreachable right now.",
  503: "The service is not ready yet: try again in a moment.",
};

export class ApiClient {
  constructor({ baseUrl = "", fetchImpl = (...args) => globalThis.fetch(...args) } = {}) {
    this.baseUrl = baseUrl;
    this.fetchImpl = fetchImpl;
    this.access = null;
    this.refresh = null;
    // Called with {access, refresh} whenever tokens change (login, refresh).
    this.onTokens = null;
    // Called when the session cannot be renewed any more.
    this.onSignedOut = null;
    // Who renews the tokens, when someone else owns them (the live NotificationsClient):
    // refresh tokens rotate, so two parties renewing on their own would revoke each other.
    this.renewer = null;
  }

  setTokens({ access, refresh }) {
    this.access = access;
    this.refresh = refresh;
    this.onTokens?.({ access, refresh });
  }

  url(path, query) {
    const origin = this.baseUrl || globalThis.location?.origin || "http://localhost:8000";
    const url = new URL(path, origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") {
        url.searchParams.set(key, String(value));
      }
    }
    return url.toString();
  }

  async request(method, path, { body, query, auth = true, retried = false } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && this.access) headers.Authorization = `Bearer ${this.access}`;
    let response;
    try {
      response = await this.fetchImpl(this.url(path, query), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError(0, "network_error", "The server cannot be reached: check that it runs.");
    }
    // An expired access token: renew once and replay the request.
    if (response.status === 401 && auth && !retried && this.refresh) {
      const payload = await readJson(response);
      if (payload?.code === "token_expired" && (await this.renew())) {
        return this.request(method, path, { body, query, auth, retried: true });
      }
      throw toError(response.status, payload);
    }
    if (response.status === 204) return null;
    const payload = await readJson(response);
    if (!response.ok) throw toError(response.status, payload);
    return payload;
  }

  async renew() {
    if (this.renewer) return this.renewer();
    try {
      const tokens = await this.request("POST", "/api/auth/refresh/", {
        body: { refresh: this.refresh },
        auth: false,
      });
      this.setTokens(tokens);
      return true;
    } catch (error) {
      if (error.status === 401) this.onSignedOut?.(error);
      return false;
    }
  }

  // --- auth ---------------------------------------------------------------------------
  async login(username, password) {
    const session = await this.request("POST", "/api/auth/login/", {
      body: { username, password },
      auth: false,
    });
    this.setTokens(session);
    return session;
  }

  me() {
    return this.request("GET", "/api/auth/me/");
  }

  // --- users and projects -------------------------------------------------------------
  users(role) {
    return this.request("GET", "/api/users/", { query: { role, limit: 200 } });
  }

  projects() {
    return this.request("GET", "/api/projects/", { query: { limit: 200 } });
  }

  // --- tickets ------------------------------------------------------------------------
  tickets() {
    return this.request("GET", "/api/tickets/", { query: { limit: 200 } });
  }

  ticket(id) {
    return this.request("GET", `/api/tickets/${id}/`);
  }

  createTicket({ title, description, priority, category, project_id }) {
    return this.request("POST", "/api/tickets/", {
      body: { title, description, priority, category, project_id },
    });
  }

  openTicket(id) {
    return this.request("POST", `/api/tickets/${id}/open/`);
  }

  assignTicket(id, developerIds, resolutionDueAt) {
    const body = { developer_ids: developerIds };
    if (resolutionDueAt) body.resolution_due_at = resolutionDueAt;
    return this.request("POST", `/api/tickets/${id}/assign/`, { body });
  }

  startTicket(id) {
    return this.request("POST", `/api/tickets/${id}/start/`);
  }

  finishTicket(id) {
    return this.request("POST", `/api/tickets/${id}/finish/`);
  }

  approveTicket(id) {
    return this.request("POST", `/api/tickets/${id}/approve/`);
  }

  rejectTicket(id, comment) {
    return this.request("POST", `/api/tickets/${id}/reject/`, { body: { comment } });
  }

  // --- inbox --------------------------------------------------------------------------
  notifications({ unread, limit = 50, cursor } = {}) {
    return this.request("GET", "/api/notifications/", {
      query: { unread: unread ? "true" : undefined, limit, cursor },
    });
  }

  unreadCount() {
    return this.request("GET", "/api/notifications/unread-count/");
  }

  markRead(id) {
    return this.request("POST", `/api/notifications/${id}/read/`);
  }

  markAllRead() {
    return this.request("POST", "/api/notifications/read-all/");
  }
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function toError(status, payload) {
  const code = payload?.code || `http_${status}`;
  let detail = payload?.detail;
  if (typeof detail !== "string" || !detail) {
    detail = STATUS_SENTENCES[status] || `The server answered ${status}.`;
  }
  if (code === "invalid_transition" && payload?.status) {
    detail = `${detail} (the ticket is ${payload.status_display || payload.status})`;
  }
  return new ApiError(status, code, detail, payload);
}
