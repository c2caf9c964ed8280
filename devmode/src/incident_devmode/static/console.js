// The web console: sign in, work on tickets as your role allows, watch notifications arrive.
// Plain ES module over the project's JS clients (served from /client/), no build step.

import { ApiClient, ApiError } from "/client/api.js";
import { NotificationsClient } from "/client/notifications.js";

const $ = (selector) => document.querySelector(selector);
const SESSION_KEY = "incident-console-session";

const TYPE_LABELS = {
  ticket_created: "Ticket created",
  ticket_opened: "Ticket opened",
  ticket_assigned: "Ticket assigned",
  work_started: "Work started",
  work_finished: "Work finished",
  ticket_approved: "Ticket approved",
  ticket_rejected: "Ticket rejected",
};

const state = {
  user: null,
  tickets: [],
  notifications: new Map(), // id -> {notification, read}
  unread: 0,
  developers: [],
  pendingTicket: null,
  devMode: false, // the dev mode serves demo users and the "drop connection" helper
};

const api = new ApiClient({ baseUrl: "" });
let live = null;

// --- session ------------------------------------------------------------------------------

function saveSession(extra = {}) {
  const saved = loadSession() || {};
  const session = { ...saved, access: api.access, refresh: api.refresh, user: state.user, ...extra };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

api.onTokens = () => state.user && saveSession();
api.onSignedOut = () => signOut("Your session has expired: sign in again.");

async function signIn(username, password) {
  clearError();
  try {
    const session = await api.login(username, password);
    state.user = session.user;
    saveSession();
    await enter();
  } catch (error) {
    showError(error);
  }
}

function signOut(message) {
  live?.stop();
  live = null;
  api.renewer = null;
  sessionStorage.removeItem(SESSION_KEY);
  api.access = api.refresh = null;
  state.user = null;
  state.tickets = [];
  state.notifications.clear();
  state.unread = 0;
  renderFeed();
  showLogin();
  if (message) showError(new ApiError(401, "session_expired", message));
}

// --- views ----------------------------------------------------------------------------------

async function detectDevMode() {
  try {
    const response = await fetch("/console/demo-users.json");
    state.devMode = response.ok;
    return response.ok ? await response.json() : [];
  } catch {
    return [];
  }
}

// Dev mode: ask the server to drop this user's WebSockets, as a restart would.
async function dropConnection() {
  try {
    await api.request("POST", "/console/drop-connections");
  } catch (error) {
    showError(error);
  }
}

async function showLogin() {
  $("#app-view").hidden = true;
  $("#login-view").hidden = false;
  for (const id of ["#who", "#bell", "#sign-out", "#drop"]) $(id).hidden = true;
  setConnection("offline");
  const users = await detectDevMode();
  {
    const box = $("#demo-users");
    box.replaceChildren(
      ...users.map((user) => {
        const button = el("button", { type: "button", "data-username": user.username });
        button.append(user.full_name, el("span", { class: "role" }, `${user.role} · ${user.username}`));
        button.addEventListener("click", () => signIn(user.username, user.password));
        return button;
      }),
    );
    $("#demo").hidden = users.length === 0;
  }
}

async function enter() {
  $("#login-view").hidden = true;
  $("#app-view").hidden = false;
  const { user } = state;
  $("#who").textContent = `${user.full_name} (${user.role.toLowerCase()})`;
  for (const id of ["#who", "#bell", "#sign-out"]) $(id).hidden = false;
  $("#drop").hidden = !state.devMode;
  $("#scope").textContent = {
    ADMIN: "all tickets",
    DEVELOPER: "assigned to you",
    CLIENT: "yours",
  }[user.role];
  $("#create-form").hidden = user.role !== "CLIENT";
  await Promise.all([loadTickets(), loadInbox(), loadReferenceData()]);
  startLive();
}

async function loadReferenceData() {
  try {
    if (state.user.role === "CLIENT") {
      const projects = await api.projects();
      const select = $("#create-form select[name=project_id]");
      select.replaceChildren(...projects.map((p) => el("option", { value: p.id }, p.name)));
    }
    if (state.user.role === "ADMIN") state.developers = await api.users("DEVELOPER");
  } catch (error) {
    showError(error);
  }
}

// --- tickets --------------------------------------------------------------------------------

async function loadTickets(flashId) {
  try {
    state.tickets = await api.tickets();
    renderTickets(flashId);
  } catch (error) {
    showError(error);
  }
}

function actionsFor(ticket) {
  const role = state.user.role;
  const actions = [];
  if (role === "ADMIN") {
    if (ticket.status === "NEW") actions.push(["open", "Open"]);
    if (ticket.status === "OPENED" || ticket.status === "IN_PROGRESS") {
      actions.push(["assign", "Assign…"]);
    }
  } else if (role === "DEVELOPER") {
    if (ticket.status === "OPENED") actions.push(["start", "Start"]);
    if (ticket.status === "IN_PROGRESS") actions.push(["finish", "Finish"]);
  } else if (role === "CLIENT" && ticket.status === "RESOLVED") {
    actions.push(["approve", "Approve"], ["reject", "Reject…"]);
  }
  return actions;
}

function renderTickets(flashId) {
  const rows = state.tickets.map((ticket) => {
    const row = el("tr", { "data-ticket-id": ticket.id, "data-status": ticket.status });
    if (ticket.id === flashId) row.classList.add("flash");
    const title = el("td", { class: "title" }, ticket.title);
    title.append(el("small", { class: "muted" }, `${categoryName(ticket)} · by ${ticket.created_by ?? "?"}`));
    const actions = el("td", { class: "actions" });
    for (const [action, label] of actionsFor(ticket)) {
      const button = el("button", { type: "button", "data-action": action }, label);
      button.addEventListener("click", () => act(action, ticket, button));
      actions.append(button);
    }
    row.append(
      el("td", {}, String(ticket.id)),
      title,
      el("td", { class: `prio-${ticket.priority}` }, ticket.priority_display ?? ticket.priority),
      el("td", {}, el("span", { class: `pill status-${ticket.status}` }, statusName(ticket))),
      el("td", {}, ticket.project_name ?? ""),
      el("td", {}, (ticket.assigned_to_names ?? []).join(", ") || "—"),
      actions,
    );
    return row;
  });
  $("#ticket-rows").replaceChildren(...rows);
  $("#no-tickets").hidden = rows.length > 0;
}

const STATUS_NAMES = {
  NEW: "New",
  OPENED: "Opened",
  IN_PROGRESS: "In Progress",
  RESOLVED: "Resolved",
  CLOSED: "Closed",
};
const CATEGORY_NAMES = { BUG: "Bug", FEATURE: "Feature Request", SUPPORT: "Support", INCIDENT: "Incident" };
const statusName = (t) => t.status_display ?? STATUS_NAMES[t.status] ?? t.status;
const categoryName = (t) => t.category_display ?? CATEGORY_NAMES[t.category] ?? t.category;

async function act(action, ticket, button) {
  clearError();
  if (action === "assign") return openAssign(ticket);
  if (action === "reject") return openReject(ticket);
  const call = {
    open: () => api.openTicket(ticket.id),
    start: () => api.startTicket(ticket.id),
    finish: () => api.finishTicket(ticket.id),
    approve: () => api.approveTicket(ticket.id),
  }[action];
  await busy(button, async () => {
    await call();
    await loadTickets(ticket.id);
  });
}

function openAssign(ticket) {
  state.pendingTicket = ticket;
  $("#assign-title").textContent = `#${ticket.id} ${ticket.title}`;
  const box = $("#assign-developers");
  const legend = el("legend", {}, "Developers");
  const choices = state.developers.map((dev) => {
    const label = el("label");
    const checked = (ticket.assigned_to_names ?? []).includes(dev.full_name);
    const input = el("input", { type: "checkbox", name: "developer", value: dev.id });
    input.checked = checked;
    label.append(input, `${dev.full_name} (${dev.username})`);
    return label;
  });
  box.replaceChildren(legend, ...choices);
  if (choices.length === 0) box.append(el("p", { class: "muted" }, "No developers yet."));
  $("#assign-form").elements.due.value = "";
  $("#assign-dialog").showModal();
}

function openReject(ticket) {
  state.pendingTicket = ticket;
  $("#reject-title").textContent = `#${ticket.id} ${ticket.title}`;
  $("#reject-form").elements.comment.value = "";
  $("#reject-dialog").showModal();
}

async function submitAssign(event) {
  event.preventDefault();
  const ticket = state.pendingTicket;
  const form = $("#assign-form");
  const ids = [...form.querySelectorAll("input[name=developer]:checked")].map((i) => Number(i.value));
  const due = form.elements.due.value ? new Date(form.elements.due.value).toISOString() : null;
  await busy($("#assign-submit"), async () => {
    await api.assignTicket(ticket.id, ids, due ? due.replace(/\.\d{3}Z$/, "Z") : null);
    $("#assign-dialog").close();
    await loadTickets(ticket.id);
  });
}

async function submitReject(event) {
  event.preventDefault();
  const ticket = state.pendingTicket;
  const comment = $("#reject-form").elements.comment.value.trim();
  await busy($("#reject-submit"), async () => {
    await api.rejectTicket(ticket.id, comment);
    $("#reject-dialog").close();
    await loadTickets(ticket.id);
  });
}

async function submitCreate(event) {
  event.preventDefault();
  const form = event.target;
  const data = Object.fromEntries(new FormData(form));
  await busy(form.querySelector("button[type=submit]"), async () => {
    const ticket = await api.createTicket({ ...data, project_id: Number(data.project_id) });
    form.reset();
    await loadTickets(ticket.id);
  });
}

// --- notifications --------------------------------------------------------------------------

async function loadInbox() {
  try {
    const [page, count] = await Promise.all([api.notifications({ limit: 50 }), api.unreadCount()]);
    state.notifications.clear();
    for (const item of page.results) {
      state.notifications.set(item.id, { notification: item, read: isRead(item) });
    }
    state.unread = count.unread;
    renderFeed();
  } catch (error) {
    showError(error);
  }
}

const isRead = (item) => Boolean(item.read ?? item.is_read ?? item.read_at);

function maxSeq() {
  let max = null;
  for (const { notification } of state.notifications.values()) {
    if (typeof notification.seq === "number" && (max === null || notification.seq > max)) {
      max = notification.seq;
    }
  }
  return max;
}

function startLive() {
  live?.stop();
  api.renewer = null;
  // Resume right after the newest notification the inbox showed: nothing that arrives
  // between loading the inbox and connecting is lost, and nothing shows twice.
  live = new NotificationsClient({
    baseUrl: "",
    access: api.access,
    refresh: api.refresh,
    since: maxSeq() ?? 0,
  });
  live.addEventListener("state", (e) => setConnection(e.detail.state, e.detail.retryIn));
  live.addEventListener("notification", (e) => receive(e.detail));
  live.addEventListener("tokens", (e) => api.setTokens(e.detail));
  live.addEventListener("auth-failed", (e) => signOut(e.detail.detail));
  live.addEventListener("server-error", (e) =>
    showError(new ApiError(0, e.detail.code, e.detail.detail)),
  );
  api.renewer = () => live.renew();
  window.consoleLive = live; // handy in the browser's devtools, and for the end-to-end tests
  live.start();
}

function receive(notification) {
  if (state.notifications.has(notification.id)) return;
  state.notifications.set(notification.id, { notification, read: false });
  state.unread += 1;
  renderFeed(notification.id);
  toast(notification);
  // The ticket changed: show its new state without a reload.
  loadTickets(notification.ticket?.id);
}

function renderFeed(freshId) {
  const items = [...state.notifications.values()].sort(
    (a, b) => (b.notification.seq ?? 0) - (a.notification.seq ?? 0),
  );
  const nodes = items.map(({ notification, read }) => {
    const item = el("li", {
      class: `notification${read ? "" : " unread"}`,
      "data-id": notification.id,
      "data-type": notification.notification_type,
      "data-seq": notification.seq,
      title: read ? "Read" : "Click to mark as read",
    });
    const meta = el("div", { class: "meta" });
    meta.append(
      el("span", { class: "type" }, TYPE_LABELS[notification.notification_type] ?? notification.notification_type),
      el("span", {}, `#${notification.seq} · ${formatTime(notification.timestamp)}`),
    );
    item.append(meta, el("div", { class: "message" }, notification.message));
    if (!read) item.addEventListener("click", () => markRead(notification.id));
    if (notification.id === freshId) item.classList.add("flash");
    return item;
  });
  $("#feed").replaceChildren(...nodes);
  $("#no-notifications").hidden = nodes.length > 0;
  const badge = $("#unread-badge");
  badge.textContent = String(state.unread);
  badge.hidden = state.unread <= 0;
}

async function markRead(id) {
  const entry = state.notifications.get(id);
  if (!entry || entry.read) return;
  try {
    await api.markRead(id);
    entry.read = true;
    state.unread = Math.max(0, state.unread - 1);
    renderFeed();
  } catch (error) {
    showError(error);
  }
}

async function markAllRead() {
  try {
    await api.markAllRead();
    for (const entry of state.notifications.values()) entry.read = true;
    state.unread = 0;
    renderFeed();
  } catch (error) {
    showError(error);
  }
}

function toast(notification) {
  const node = el("div", { class: "toast", "data-type": notification.notification_type });
  node.append(
    el("strong", {}, TYPE_LABELS[notification.notification_type] ?? notification.notification_type),
    notification.message,
  );
  $("#toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

// --- small things -----------------------------------------------------------------------------

function setConnection(connection, retryIn) {
  const label = connection === "connecting" ? "reconnecting" : connection;
  $("#conn").className = `conn conn-${label}`;
  $("#conn-state").textContent = label;
  $("#conn").title =
    label === "reconnecting" && retryIn ? `Retrying in ${Math.ceil(retryIn / 1000)} s` : "Live notifications";
}

function showError(error) {
  const detail = error instanceof ApiError ? error.detail : String(error?.message ?? error);
  const code = error instanceof ApiError ? error.code : "client_error";
  $("#error-text").textContent = detail;
  $("#error-code").textContent = code;
  $("#error").hidden = false;
  if (error instanceof ApiError && error.status === 401 && state.user && code !== "invalid_credentials") {
    signOut(detail);
  }
}

function clearError() {
  $("#error").hidden = true;
}

async function busy(button, work) {
  clearError();
  if (button) button.disabled = true;
  try {
    await work();
  } catch (error) {
    showError(error);
  } finally {
    if (button) button.disabled = false;
  }
}

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString();
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// --- start ------------------------------------------------------------------------------------

$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  signIn(form.elements.username.value, form.elements.password.value);
});
$("#sign-out").addEventListener("click", () => signOut());
$("#drop").addEventListener("click", dropConnection);
$("#error-close").addEventListener("click", clearError);
$("#reload").addEventListener("click", () => Promise.all([loadTickets(), loadInbox()]));
$("#read-all").addEventListener("click", markAllRead);
$("#bell").addEventListener("click", () => $("#feed").scrollIntoView({ behavior: "smooth" }));
$("#create-form").addEventListener("submit", submitCreate);
$("#assign-form").addEventListener("submit", submitAssign);
$("#reject-form").addEventListener("submit", submitReject);
$("#assign-cancel").addEventListener("click", () => $("#assign-dialog").close());
$("#reject-cancel").addEventListener("click", () => $("#reject-dialog").close());

const saved = loadSession();
if (saved?.access && saved.user) {
  api.access = saved.access;
  api.refresh = saved.refresh;
  state.user = saved.user;
  detectDevMode().then(enter);
} else {
  showLogin();
}
