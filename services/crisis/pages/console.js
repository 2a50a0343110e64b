// The responder console: a crisis responder's whole shift in one page.
//
// The session is an HTTP-only cookie the crisis service sets at sign-in: this script never sees a token.
// Every request that changes something carries the session's CSRF token. What must survive a new
// sign-in in this tab (the last live event seen, the feed, the open case) is kept in sessionStorage,
// under the signed-in person, so the stream resumes exactly after the last event: none lost, none twice.
// Everything shown comes from the server and is set as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SIGN_IN = "/crisis/console/sign-in?next=/crisis/console";
const MEMORY_KEY = "rn-console";
const OPEN_AFTER_SIGN_IN = "rn-console-open";
const FEED_LIMIT = 300;
const SECOND = 1000;
const SEVERITY_RANK = { imminent: 0, high: 1, moderate: 2, low: 3 };
const SEVERITY_LABEL = { imminent: "Imminent", high: "High", moderate: "Moderate", low: "Low" };
const STATE_LABEL = {
  received: "Opening", triggered: "Triggered", acknowledged: "Acknowledged",
  resolved: "Resolved", cancelled: "Cancelled",
};
const EVENT_LABEL = {
  "crisis.raised.v1": "Raised",
  "crisis.escalated.v1": "Escalated",
  "crisis.severity_raised.v1": "Severity raised",
  "crisis.acknowledged.v1": "Acknowledged",
  "crisis.resolved.v1": "Resolved",
  "crisis.cancelled.v1": "Cancelled",
  "crisis.follow_up_scheduled.v1": "Caring contact scheduled",
  "crisis.follow_up_completed.v1": "Caring contact done",
};
const FOLLOW_UP_EVENTS = new Set([
  "crisis.resolved.v1", "crisis.follow_up_scheduled.v1", "crisis.follow_up_completed.v1",
]);
const OUTCOME_LABEL = {
  safe: "Safe", referred: "Referred", emergency_dispatched: "Emergency services dispatched",
  unreachable: "Unreachable",
};
const REFERRAL_LABEL = {
  988: "988 Suicide & Crisis Lifeline", warm_handoff: "Warm handoff to a partner",
  emergency_services: "Emergency services (911)", peer_follow_up: "Peer follow-up", other: "Other",
  none: "No referral",
};
const CANCEL_LABEL = {
  raised_by_mistake: "Raised by mistake", duplicate: "Duplicate of another case",
  member_safe: "The member is safe", other: "Other",
};
const STAFF_ROLES = [["responder", "Responder"], ["coordinator", "Coordinator"], ["regional_responder", "Regional responder"]];
// The Stanley-Brown safety plan, in its order.
const PLAN_STEPS = [
  ["warning_signs", "1. Warning signs"],
  ["coping_strategies", "2. Internal coping strategies"],
  ["distractions", "3. People and social settings that provide distraction"],
  ["help_contacts", "4. People whom I can ask for help"],
  ["professionals", "5. Professionals or agencies I can contact during a crisis"],
  ["environment_safety", "6. Making the environment safe"],
];
const PLAN_ITEMS = 20;
const SUGGESTED_PROFESSIONAL = "988 Suicide & Crisis Lifeline - call or text 988";

const app = {
  session: null,
  skew: 0, // the server's clock minus ours, so the renewal is timed on the server's clock
  renewable: true,
  ended: false,
  memory: null,
  seen: new Set(),
  cases: [],
  selected: null,
  detail: null,
  partners: null, // { caseId, list }: the open case's organization's partners, read when it is opened
  highlighted: new Set(), // cases an escalation just brought to the signed-in person
  audio: null,
  stream: null,
  renewTimer: 0,
  retryAfter: 0, // ms the identity provider asked us to wait after a 503, 0 when it did not say
  banner: null, // what the banner is saying: "renewal" (cleared by a renewal), "ended", ...
  expiryTimer: 0,
  teamTimer: 0,
  refreshing: null,
  pending: { cases: false, followUps: false, team: false, selected: false },
  staff: [],
};

class Problem extends Error {
  constructor(status, title, detail, errors) {
    super(detail || title);
    Object.assign(this, { status, title, detail, errors: errors || [] });
  }
}
class SessionEnded extends Error {}
// The person is signed in but not (or no longer) on the active crisis staff of their organization.
class NotOnStaff extends SessionEnded {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const short = (id) => String(id || "").slice(-8);
const now = () => Date.now() + app.skew;
const enc = encodeURIComponent;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && !key.startsWith("aria")) node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

function timeEl(iso) {
  if (!iso) return el("span", { text: "—" });
  return el("time", { dateTime: iso, text: new Date(iso).toLocaleString() });
}

// 1:05, 12:00, 1:02:03: minutes and seconds, hours when there are any (rounded up, so 0:00 is the end).
function duration(ms) {
  const total = Math.max(0, Math.ceil(ms / SECOND));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function ago(iso) {
  const minutes = Math.floor((now() - Date.parse(iso)) / 60000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min ago` : `${Math.floor(hours / 24)} days ago`;
}

function minutesText(minutes) {
  if (minutes < 1) return `${Math.round(minutes * 60)} s`;
  if (minutes < 60) return `${Number(minutes.toFixed(2))} min`;
  const h = Math.floor(minutes / 60), m = Math.round(minutes % 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

// ---------------------------------------------------------------------------------------------------
// Calls to the crisis service

async function problemOf(response) {
  let body = {};
  try { body = await response.json(); } catch { /* not JSON: the status says enough */ }
  return new Problem(response.status, body.title || response.statusText, body.detail, body.errors);
}

// A 401 renews the session once and tries again; a 403 on a change may mean another tab renewed the
// session (a new CSRF token), so the session is read again and, if the token changed, it is retried.
async function api(path, { method = "GET", body } = {}, retried = false) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = app.session ? app.session.csrf_token : "";
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Problem(0, "No connection", "the crisis service could not be reached: try again in a moment");
  }
  if (response.status === 401) {
    const renewal = retried ? "refused" : await renew();
    if (renewal === "renewed") return api(path, { method, body }, true);
    // Only a refusal ends the session: an identity provider that does not answer is tried again.
    if (renewal === "failed") throw new Problem(401, "Not renewed yet", "the sign-in service does not answer: try again in a moment");
    sessionEnded();
    throw new SessionEnded("Your session ended - sign in again");
  }
  // A read of casework is refused only to a person off the active staff (deactivated): saying so
  // beats retrying what will be refused again.
  if (response.status === 403 && method === "GET" && /^\/crisis\/(cases|follow-ups)\b/.test(path)) {
    notOnStaff();
    throw new NotOnStaff(notOnStaffText());
  }
  if (response.status === 403 && method !== "GET" && !retried) {
    const used = headers["X-CSRF-Token"];
    if ((await rereadSession()) && app.session.csrf_token !== used) return api(path, { method, body }, true);
  }
  if (!response.ok) throw await problemOf(response);
  if (response.status === 204) return null;
  return response.json();
}

function problemText(error) {
  if (error instanceof SessionEnded) return error.message;
  if (!(error instanceof Problem)) return "Something went wrong: " + error.message;
  const where = error.errors
    .map((e) => `${(e.loc || []).filter((p) => p !== "body").join(".") || "request"}: ${e.msg}`)
    .join("; ");
  const text = error.detail && error.detail !== "the request is not valid" ? error.detail : error.title;
  const prefix = error.status === 409 ? "The case has moved on: " : "";
  return prefix + text + (where ? ` (${where})` : "");
}

function showProblem(id, error) {
  const box = $(id);
  box.textContent = typeof error === "string" ? error : problemText(error);
  box.hidden = false;
}

function clearProblem(id) {
  $(id).hidden = true;
  $(id).textContent = "";
}

function announce(text) {
  // Emptied first, so the same words said twice are announced twice.
  $("announcer").textContent = "";
  requestAnimationFrame(() => { $("announcer").textContent = text; });
}

// ---------------------------------------------------------------------------------------------------
// The session: read, renewed before it expires, and what the page does when it ends

async function readSession() {
  const response = await fetch("/crisis/console/session", { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) return null;
  if (!response.ok) throw await problemOf(response);
  const served = Date.parse(response.headers.get("Date") || "");
  if (!Number.isNaN(served)) app.skew = served - Date.now();
  return response.json();
}

async function rereadSession() {
  try {
    const session = await readSession();
    if (!session) return false;
    adopt(session);
    return true;
  } catch {
    return false;
  }
}

function adopt(session) {
  // Somebody else signed in in another tab (the cookie is shared): start afresh as them.
  if (app.session && (session.sub !== app.session.sub || session.org !== app.session.org)) {
    location.reload();
    return;
  }
  app.session = session;
  app.renewable = session.renewable !== false;
  scheduleRenewal();
}

// Renewal at 75% of the remaining lifetime or 30 s before the end, whichever is earlier, but never in
// the first half of it: a short session must not renew in a loop.
function scheduleRenewal() {
  clearTimeout(app.renewTimer);
  clearTimeout(app.expiryTimer);
  const remaining = Date.parse(app.session.expires_at) - now();
  const at = Math.max(remaining * 0.5, Math.min(remaining * 0.75, remaining - 30 * SECOND));
  app.renewTimer = setTimeout(renewOnTime, Math.max(0, at));
  app.expiryTimer = setTimeout(onExpiry, Math.max(0, remaining));
}

let renewing = null;
function renew() {
  renewing = renewing || doRenew().finally(() => { renewing = null; });
  return renewing;
}

// "renewed", "refused" (sign in again) or "failed" (no answer, or the identity provider cannot be
// reached: the session goes on, try again later).
async function doRenew(retried = false) {
  if (app.ended || !app.renewable) return "refused";
  app.retryAfter = 0;
  let response;
  try {
    response = await fetch("/crisis/console/session/renew", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "X-CSRF-Token": app.session ? app.session.csrf_token : "" },
    });
  } catch {
    return "failed";
  }
  if (response.ok) {
    const served = Date.parse(response.headers.get("Date") || "");
    if (!Number.isNaN(served)) app.skew = served - Date.now();
    adopt(await response.json());
    return "renewed";
  }
  if (response.status === 403 && !retried && (await rereadSession())) return doRenew(true);
  if (response.status === 401 || response.status === 403) {
    app.renewable = false;
    return "refused";
  }
  app.retryAfter = retryAfterMs(response.headers.get("Retry-After"));
  return "failed";
}

// Retry-After is seconds or an HTTP date; 0 when absent or unreadable.
function retryAfterMs(value) {
  if (!value) return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * SECOND);
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(0, at - now());
}

async function renewOnTime() {
  const result = await renew();
  if (app.ended) return;
  if (result === "renewed") {
    if (app.banner === "renewal") hideBanner();
    return;
  }
  const left = Date.parse(app.session.expires_at) - now();
  const at = new Date(Date.parse(app.session.expires_at) - app.skew).toLocaleTimeString();
  if (result === "failed") {
    // The identity provider cannot be reached (503) or the network failed: the session and the
    // stream go on, and the renewal is tried again every few seconds while the session lasts. Only
    // near its end is the person told, and not asked to sign in: that needs the same provider.
    if (left > SECOND) {
      const wait = Math.min(Math.max(app.retryAfter || 5 * SECOND, SECOND), 15 * SECOND);
      app.renewTimer = setTimeout(renewOnTime, Math.min(wait, left - SECOND / 2));
    }
    if (left < 60 * SECOND) {
      showBanner(`The sign-in service does not answer: your session is renewed as soon as it does (it ends at ${at})`, null, null, "renewal");
    }
    return;
  }
  // Refused: the session still works until it expires, and the person is told now, while they can
  // still finish.
  showBanner(`Your session ends at ${at} and cannot be renewed - sign in again to keep working`, "Sign in again", SIGN_IN, "renewal");
}

// Another tab may have renewed the session (the cookie is shared): only if not is it over.
async function onExpiry() {
  if (app.ended) return;
  if ((await rereadSession()) && Date.parse(app.session.expires_at) > now()) {
    if (app.banner === "renewal") hideBanner();
    return;
  }
  sessionEnded();
}

function sessionEnded() {
  if (app.ended) return;
  app.ended = true;
  clearTimeout(app.renewTimer);
  clearTimeout(app.expiryTimer);
  clearTimeout(app.teamTimer);
  if (app.stream) app.stream.abort();
  saveMemory();
  setStatus("signed-out", "Signed out");
  document.body.classList.add("ended");
  // Nothing here works until they sign in again: what is shown stays, greyed, for them to see.
  $("who").hidden = true;
  $("signout-button").hidden = true;
  $("alerts-button").hidden = true;
  showBanner("Your session ended - sign in again", "Sign in again", SIGN_IN, "ended");
}

function notOnStaffText() {
  return `You are not on the active crisis staff of ${app.session ? app.session.org : "this organization"}`;
}

// Signed in, but off the active staff (deactivated, or never added): every case route and the stream
// refuse them, so the page stops asking (no reconnect loop) and says why. A coordinator can add them
// again; then "Try again" reloads the page.
function notOnStaff() {
  if (app.ended) return;
  app.ended = true;
  clearTimeout(app.renewTimer);
  clearTimeout(app.expiryTimer);
  clearTimeout(app.teamTimer);
  if (app.stream) app.stream.abort();
  saveMemory();
  setStatus("signed-out", "Not on the staff");
  document.body.classList.add("ended");
  $("alerts-button").hidden = true;
  showBanner(`${notOnStaffText()}. A coordinator of ${app.session.org} can add you again.`, "Try again", location.pathname, "not-on-staff");
}

// `linkText` null: a notice with nothing to do about it.
function showBanner(text, linkText, href = SIGN_IN, kind = null) {
  // The same words again (a retry) are not set again: an alert would be read out every time.
  if ($("session-banner-text").textContent !== text) $("session-banner-text").textContent = text;
  const link = $("session-banner-link");
  link.hidden = !linkText;
  if (linkText) {
    link.textContent = linkText;
    link.href = href || SIGN_IN;
  }
  $("session-banner").hidden = false;
  app.banner = kind;
}

function hideBanner() {
  $("session-banner").hidden = true;
  app.banner = null;
}

async function signOut() {
  try {
    await api("/crisis/console/sign-out", { method: "POST" });
  } catch (error) {
    if (!(error instanceof SessionEnded)) {
      showBanner("Signing out did not work: " + problemText(error), "Sign in as someone else", SIGN_IN, "sign-out");
      return;
    }
  }
  // Nothing of this person stays in the tab.
  sessionStorage.removeItem(MEMORY_KEY);
  sessionStorage.removeItem(OPEN_AFTER_SIGN_IN);
  app.ended = true;
  clearTimeout(app.renewTimer);
  clearTimeout(app.expiryTimer);
  if (app.stream) app.stream.abort();
  $("console").hidden = true;
  $("who").hidden = true;
  $("signout-button").hidden = true;
  $("alerts-button").hidden = true;
  for (const list of document.querySelectorAll("main ul, main ol, main tbody, main #rosters, main #protocol")) {
    list.replaceChildren();
  }
  setStatus("signed-out", "Signed out");
  showBanner("You signed out.", "Sign in", SIGN_IN, "signed-out");
}

function setStatus(kind, text) {
  const status = $("status");
  if (status.textContent !== text) status.textContent = text;
  status.className = "status " + kind;
}

// ---------------------------------------------------------------------------------------------------
// What the tab remembers across a new sign-in

function loadMemory(session) {
  let memory = null;
  try { memory = JSON.parse(sessionStorage.getItem(MEMORY_KEY) || "null"); } catch { /* unreadable */ }
  // Another person signed in in this tab: nothing of the previous one is shown to them.
  if (!memory || memory.sub !== session.sub || memory.org !== session.org || !Array.isArray(memory.feed)) {
    memory = { sub: session.sub, org: session.org, lastEventId: null, feed: [], selected: null };
  }
  return memory;
}

function saveMemory() {
  if (!app.memory) return;
  try {
    sessionStorage.setItem(MEMORY_KEY, JSON.stringify(app.memory));
  } catch { /* storage full or refused: the page still works, a reload just starts afresh */ }
}

// ---------------------------------------------------------------------------------------------------
// The live stream: server-sent events read with fetch, resumed after the last event seen

async function runStream() {
  let delay = SECOND;
  while (!app.ended) {
    const controller = new AbortController();
    app.stream = controller;
    let ended = false;
    try {
      const headers = { Accept: "text/event-stream" };
      if (app.memory.lastEventId) headers["Last-Event-ID"] = app.memory.lastEventId;
      const response = await fetch("/crisis/console/events", {
        headers, signal: controller.signal, credentials: "same-origin", cache: "no-store",
      });
      if (response.status === 401) {
        const result = await renew();
        if (result === "renewed") continue;
        if (result === "refused") { sessionEnded(); return; }
        throw new Error("the session could not be renewed");
      }
      if (response.status === 403) { notOnStaff(); return; }
      if (!response.ok) throw new Error(`status ${response.status}`);
      setStatus("connected", "Connected");
      delay = SECOND;
      await readEvents(response.body);
      ended = true; // the server closed it: the session's token expired, or the service restarts
    } catch (error) {
      if (app.ended) return;
      console.warn("console stream broke:", error.message);
    }
    if (app.ended) return;
    setStatus("reconnecting", "Reconnecting…");
    await sleep(ended ? SECOND / 4 : delay);
    if (!ended) delay = Math.min(delay * 2, 10 * SECOND);
  }
}

async function readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const fields = { data: [] };
      for (const line of frame.split("\n")) {
        const i = line.indexOf(":");
        if (i <= 0) continue; // a comment (keep-alive) or nothing
        const name = line.slice(0, i), text = line.slice(i + 1).replace(/^ /, "");
        if (name === "data") fields.data.push(text);
        else fields[name] = text;
      }
      if (!fields.data.length) continue;
      let envelope;
      try { envelope = JSON.parse(fields.data.join("\n")); } catch { envelope = {}; }
      onEvent(fields.id || "", fields.event || envelope.type || "message", envelope);
    }
  }
}

function reachesMe(type, data) {
  if (type !== "crisis.escalated.v1" || !app.session) return false;
  if (Array.isArray(data.responder_ids) && data.responder_ids.includes(app.session.sub)) return true;
  return app.session.roles.includes("regional_responder") && data.catch_all === "regional_team";
}

function onEvent(id, type, envelope) {
  // The resumed stream starts after the last id; the set guards against a server that repeats one.
  if (id && app.seen.has(id)) return;
  if (id) {
    app.seen.add(id);
    app.memory.lastEventId = id;
  }
  const data = envelope && typeof envelope.data === "object" && envelope.data ? envelope.data : {};
  const entry = {
    id, type,
    time: envelope.time || new Date(now()).toISOString(),
    case_id: data.case_id || envelope.subject || "",
    level: Number.isInteger(data.level) ? data.level : null,
    mine: reachesMe(type, data),
  };
  app.memory.feed.push(entry);
  if (app.memory.feed.length > FEED_LIMIT) app.memory.feed.splice(0, app.memory.feed.length - FEED_LIMIT);
  saveMemory();
  $("feed").prepend(feedItem(entry));
  while ($("feed").children.length > FEED_LIMIT) $("feed").lastElementChild.remove();
  $("feed-empty").hidden = true;
  if (entry.mine) escalationReachedMe(entry);
  // Unknown types are shown and remembered, but change nothing else.
  if (!(type in EVENT_LABEL)) return;
  refreshSoon({
    cases: true,
    followUps: FOLLOW_UP_EVENTS.has(type),
    selected: entry.case_id === app.selected,
  });
}

function feedItem(entry) {
  const what = EVENT_LABEL[entry.type] || entry.type;
  const li = el("li", {
    class: "feed-item" + (entry.mine ? " mine" : ""),
    data: { eventId: entry.id, type: entry.type, caseId: entry.case_id },
  });
  li.append(
    timeEl(entry.time), " ",
    el("strong", { text: what }),
    entry.level ? ` · level ${entry.level}` : "",
    entry.case_id ? " · case " : "",
    entry.case_id ? el("span", { class: "id", text: short(entry.case_id), title: entry.case_id }) : "",
    entry.mine ? el("span", { class: "flag", text: "Reaches you" }) : "",
  );
  return li;
}

function renderStoredFeed() {
  const items = app.memory.feed.map(feedItem).reverse();
  $("feed").replaceChildren(...items);
  $("feed-empty").hidden = items.length > 0;
}

// ---------------------------------------------------------------------------------------------------
// Alerts: a sound, a desktop notification (with permission, asked for by a button), a highlight

// Browsers start audio only after the person has used the page: the first click or key press will do.
function unlockAudio() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  try {
    app.audio = app.audio || new Context();
    if (app.audio.state === "suspended") app.audio.resume();
  } catch (error) {
    console.warn("audio unavailable:", error.message);
  }
}

// Permission is asked for only when the person presses the button, never on load.
function enableAlerts() {
  unlockAudio();
  chime(); // so the person knows what it sounds like
  const done = (permission) => {
    $("alerts-button").hidden = permission !== "default";
    announce(permission === "granted"
      ? "Sound and desktop alerts are on"
      : "Desktop notifications are blocked in this browser: the alert sound still plays");
  };
  Notification.requestPermission().then(done, () => done(Notification.permission));
}

// Three short tones made with Web Audio: no file to fetch, nothing to fail to load.
function chime() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  try {
    app.audio = app.audio || new Context();
    const start = app.audio.currentTime + 0.01;
    [880, 660, 880].forEach((frequency, i) => {
      const t = start + i * 0.22;
      const oscillator = app.audio.createOscillator();
      const gain = app.audio.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.3, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.2);
      oscillator.connect(gain).connect(app.audio.destination);
      oscillator.start(t);
      oscillator.stop(t + 0.21);
    });
  } catch (error) {
    console.warn("alert sound failed:", error.message);
  }
}

function escalationReachedMe(entry) {
  chime();
  const text = `Escalation reaches you: case ${short(entry.case_id)}` + (entry.level ? `, level ${entry.level}` : "");
  announce(text);
  app.highlighted.add(entry.case_id);
  markHighlights();
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      // Ids and the level only: a notification shows on a screen others may see.
      const notice = new Notification("Crisis escalation reaches you", {
        body: `Case ${short(entry.case_id)}` + (entry.level ? `, level ${entry.level}` : ""),
        tag: `case-${entry.case_id}`,
        requireInteraction: true,
      });
      notice.onclick = () => {
        window.focus();
        openCase(entry.case_id);
        notice.close();
      };
    } catch (error) {
      console.warn("desktop notification failed:", error.message);
    }
  }
}

function markHighlights() {
  for (const li of $("cases").children) {
    const on = app.highlighted.has(li.dataset.caseId);
    li.classList.toggle("new-escalation", on);
  }
}

// ---------------------------------------------------------------------------------------------------
// Refreshing what live events change, one round at a time however many events arrive

function refreshSoon(what) {
  for (const [key, value] of Object.entries(what)) if (value) app.pending[key] = true;
  if (app.refreshing) return;
  app.refreshing = (async () => {
    await sleep(100); // events come in bursts: one round for the burst
    while (!app.ended && Object.values(app.pending).some(Boolean)) {
      const pending = { ...app.pending };
      for (const key of Object.keys(app.pending)) app.pending[key] = false;
      await Promise.all([
        pending.cases ? refreshCases() : null,
        pending.followUps ? refreshFollowUps() : null,
        pending.selected && app.selected ? refreshDetail(app.selected) : null,
        pending.team ? refreshTeam() : null,
      ]);
    }
  })().finally(() => { app.refreshing = null; });
}

// ---------------------------------------------------------------------------------------------------
// Open cases

function sortCases(cases) {
  return [...cases].sort((a, b) =>
    (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9)
    || Date.parse(a.opened_at) - Date.parse(b.opened_at));
}

async function refreshCases() {
  try {
    app.cases = sortCases(await api("/crisis/cases?state=open"));
    clearProblem("cases-problem");
  } catch (error) {
    if (!(error instanceof SessionEnded)) showProblem("cases-problem", error);
    return;
  }
  renderCases();
}

function notifiesMe(c) {
  if (!app.session) return false;
  if ((c.notified || []).includes(app.session.sub)) return true;
  return app.session.roles.includes("regional_responder") && c.regional && c.state === "triggered";
}

function renderCases() {
  const focused = document.activeElement && document.activeElement.closest("#cases > li");
  const focusedId = focused ? focused.dataset.caseId : null;
  const template = $("case-template").content;
  const items = app.cases.map((c) => {
    const li = template.firstElementChild.cloneNode(true);
    li.id = "case-" + c.id;
    li.dataset.caseId = c.id;
    li.dataset.severity = c.severity;
    li.dataset.state = c.state;
    li.classList.add("sev-" + c.severity, "state-" + c.state);
    li.classList.toggle("selected", c.id === app.selected);
    const badge = li.querySelector(".badge");
    badge.textContent = SEVERITY_LABEL[c.severity] || c.severity;
    badge.classList.add("sev-" + c.severity);
    const open = li.querySelector(".open-case");
    open.textContent = `Case ${short(c.id)}`;
    open.setAttribute("aria-label", `Open case ${short(c.id)}, ${SEVERITY_LABEL[c.severity] || c.severity}`);
    if (c.id === app.selected) open.setAttribute("aria-current", "true");
    open.addEventListener("click", () => openCase(c.id));
    const mine = notifiesMe(c);
    li.classList.toggle("mine", mine);
    li.querySelector(".mine-flag").hidden = !mine;
    const meta = li.querySelector(".case-meta");
    meta.append(
      el("span", { class: "state", text: STATE_LABEL[c.state] || c.state }),
      " · opened ", el("span", { class: "age", data: { since: c.opened_at }, text: ago(c.opened_at) }),
      ` · level ${c.level}, round ${c.round}`,
      c.regional ? " · regional team" : "",
      c.org !== app.session.org ? ` · ${c.org}` : "",
    );
    li.querySelector(".case-notified").textContent = c.state === "acknowledged" && c.acknowledged_by
      ? `Acknowledged by ${c.acknowledged_by}`
      : `Notified: ${(c.notified || []).join(", ") || "nobody yet"}`;
    const countdown = li.querySelector(".countdown");
    countdown.dataset.case = c.id;
    countdown.textContent = clockText(c);
    if (c.severity === "imminent" && c.guidance) {
      const guidance = li.querySelector(".guidance");
      guidance.textContent = c.guidance;
      guidance.hidden = false;
    }
    return li;
  });
  $("cases").replaceChildren(...items);
  $("cases-empty").hidden = items.length > 0;
  $("case-count").textContent = `(${items.length})`;
  markHighlights();
  if (focusedId) {
    const again = document.querySelector(`#cases > li[data-case-id="${CSS.escape(focusedId)}"] .open-case`);
    if (again) again.focus();
  }
}

// "level 3 in 1:42", "catch-all", "acknowledgement times out in 28:10"
function clockText(c) {
  if (c.state === "received") return "opening…";
  if (c.state === "resolved" || c.state === "cancelled") return "closed";
  if (!c.deadline) return c.catch_all ? "catch-all" : "no deadline";
  const left = Date.parse(c.deadline) - now();
  if (c.state === "acknowledged") {
    return left > 0 ? `acknowledgement times out in ${duration(left)}` : "acknowledgement timing out";
  }
  if (c.catch_all) return "catch-all";
  if (c.next_level !== null && c.next_level !== undefined) {
    return left > 0 ? `level ${c.next_level} in ${duration(left)}` : `level ${c.next_level} now`;
  }
  return left > 0 ? `catch-all in ${duration(left)}` : "catch-all now";
}

function tick() {
  const byId = new Map(app.cases.map((c) => [c.id, c]));
  if (app.detail) byId.set(app.detail.id, { ...byId.get(app.detail.id), ...app.detail });
  for (const node of document.querySelectorAll(".countdown[data-case]")) {
    const c = byId.get(node.dataset.case);
    if (c) {
      const text = clockText(c);
      if (node.textContent !== text) node.textContent = text;
    }
  }
  for (const node of document.querySelectorAll(".age[data-since]")) {
    const text = ago(node.dataset.since);
    if (node.textContent !== text) node.textContent = text;
  }
  for (const li of $("follow-ups").children) {
    const overdue = li.dataset.overdue === "true" || Date.parse(li.dataset.dueBy) < now();
    if (overdue && !li.classList.contains("overdue")) markOverdue(li);
  }
}

// ---------------------------------------------------------------------------------------------------
// One case: facts, acknowledge, timeline, notes, safety plan, resolve, cancel

async function openCase(id, { focus = true } = {}) {
  const changed = app.selected !== id;
  app.selected = id;
  app.memory.selected = id;
  saveMemory();
  app.highlighted.delete(id);
  if (location.hash !== "#case-" + id) history.replaceState(null, "", "#case-" + id);
  for (const li of $("cases").children) {
    const on = li.dataset.caseId === id;
    li.classList.toggle("selected", on);
    const button = li.querySelector(".open-case");
    if (on) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  markHighlights();
  $("case-panel").classList.remove("empty");
  $("case-close").hidden = false;
  $("case-none").hidden = true;
  if (changed) {
    for (const p of ["case-problem", "acknowledge-problem", "note-problem", "plan-problem", "resolve-problem", "cancel-problem"]) {
      clearProblem(p);
    }
    $("note-form").reset();
    $("resolve-form").reset();
    $("cancel-form").reset();
    keepCase();
    $("plan-saved").textContent = "";
    syncReferral();
    $("case-heading").textContent = `Case ${short(id)}`;
    $("case-body").hidden = true; // until the case is read: nothing to act on before that
    app.detail = null;
    $("case-facts").replaceChildren();
    $("timeline").replaceChildren();
    $("notes").replaceChildren();
    $("plan-steps").replaceChildren();
    // Another case may belong to another organization, with partners of its own.
    app.partners = null;
    $("resolve-partner").replaceChildren(el("option", { value: "", text: "Choose a partner" }));
    $("partner-empty").hidden = true;
  }
  if (focus) {
    $("case-heading").focus();
    $("case-panel").scrollIntoView({ block: "start" });
  }
  await Promise.all([refreshDetail(id), refreshNotes(id), refreshPlan(id), loadPartners(id)]);
}

function closeCase() {
  const id = app.selected;
  app.selected = null;
  app.detail = null;
  app.memory.selected = null;
  saveMemory();
  $("case-body").hidden = true;
  $("case-panel").classList.add("empty");
  $("case-close").hidden = true;
  $("case-none").hidden = false;
  $("case-heading").textContent = "No case open";
  clearProblem("case-problem");
  history.replaceState(null, "", location.pathname + location.search);
  for (const li of $("cases").children) {
    li.classList.remove("selected");
    li.querySelector(".open-case").removeAttribute("aria-current");
  }
  const back = id && document.querySelector(`#cases > li[data-case-id="${CSS.escape(id)}"] .open-case`);
  (back || $("cases-heading")).focus();
}

async function refreshDetail(id) {
  let detail;
  try {
    detail = await api(`/crisis/cases/${enc(id)}`);
  } catch (error) {
    if (app.selected === id && !(error instanceof SessionEnded)) {
      showProblem("case-problem", error.status === 404 ? "There is no such case in your organization." : error);
    }
    return;
  }
  if (app.selected !== id) return;
  clearProblem("case-problem");
  app.detail = detail;
  renderDetail(detail);
}

function fact(term, ...value) {
  return [el("dt", { text: term }), el("dd", {}, ...value)];
}

function renderDetail(c) {
  $("case-heading").textContent = `Case ${short(c.id)}`;
  $("case-body").hidden = false;
  const facts = [
    ...fact("Case", el("span", { class: "id", text: c.id })),
    ...fact("Severity", el("span", { class: "badge sev-" + c.severity, text: SEVERITY_LABEL[c.severity] || c.severity })),
    ...fact("State", el("span", { id: "case-state", text: STATE_LABEL[c.state] || c.state })),
    ...fact("Member", el("span", { class: "id", text: c.member_id || "—" })),
    ...fact("Opened", timeEl(c.opened_at), " (", el("span", { class: "age", data: { since: c.opened_at }, text: ago(c.opened_at) }), ")"),
    ...fact("Level", `${c.level}, round ${c.round}` + (c.regional ? " · regional team" : "")),
    ...fact("Notified", (c.notified || []).join(", ") || "nobody yet"),
    ...fact("Next", el("span", { class: "countdown", role: "timer", data: { case: c.id }, text: clockText(c) })),
  ];
  if (c.acknowledged_by) facts.push(...fact("Acknowledged by", c.acknowledged_by));
  if (c.outcome) facts.push(...fact("Outcome", OUTCOME_LABEL[c.outcome] || c.outcome));
  if (c.referral) {
    let referral = REFERRAL_LABEL[c.referral] || c.referral;
    if (c.referral === "warm_handoff" && c.partner_id) referral += `: ${partnerName(c.partner_id)}`;
    if (c.referral === "other" && c.referral_other) referral += `: ${c.referral_other}`;
    facts.push(...fact("Referral", el("span", { id: "case-referral", text: referral })));
  }
  if (c.cancel_reason) facts.push(...fact("Cancelled because", CANCEL_LABEL[c.cancel_reason] || c.cancel_reason));
  if (c.follow_up) {
    const f = c.follow_up;
    facts.push(...fact(
      "Caring contact",
      `${f.responder_id}, due by `, timeEl(f.due_by),
      f.done_at ? el("span", {}, " · done ", timeEl(f.done_at)) : " · not done yet",
    ));
  }
  $("case-facts").replaceChildren(...facts);
  const guidance = $("case-guidance");
  guidance.hidden = !(c.severity === "imminent" && c.guidance);
  guidance.textContent = c.guidance || "";
  $("acknowledge-button").hidden = c.state !== "triggered";
  const open = c.state === "triggered" || c.state === "acknowledged";
  $("closing").hidden = !open;
  renderTimeline(c.timeline || []);
}

function renderTimeline(lines) {
  $("timeline").replaceChildren(...lines.map((line) => {
    const details = Object.entries(line)
      .filter(([key]) => key !== "at" && key !== "what")
      .map(([key, value]) => `${key.replaceAll("_", " ")}: ${detailValue(value)}`);
    return el("li", { data: { what: line.what || "" } },
      timeEl(line.at), " ",
      el("strong", { text: String(line.what || "").replaceAll("_", " ") }),
      details.length ? el("span", { class: "details", text: " · " + details.join("; ") }) : "");
  }));
}

function detailValue(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.map(detailValue).join(", ") || "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

async function acknowledge() {
  const id = app.selected;
  clearProblem("acknowledge-problem");
  const button = $("acknowledge-button");
  button.disabled = true;
  try {
    await api(`/crisis/cases/${enc(id)}/acknowledge`, { method: "POST", body: {} });
    announce(`Case ${short(id)} acknowledged`);
    app.highlighted.delete(id);
    await Promise.all([refreshDetail(id), refreshCases()]);
  } catch (error) {
    showProblem("acknowledge-problem", error);
  } finally {
    button.disabled = false;
  }
}

async function refreshNotes(id) {
  let notes;
  try {
    notes = await api(`/crisis/cases/${enc(id)}/notes`);
  } catch (error) {
    if (app.selected === id && !(error instanceof SessionEnded) && error.status !== 404) showProblem("note-problem", error);
    return;
  }
  if (app.selected !== id) return;
  $("notes").replaceChildren(...notes.map((note) => el("li", { class: "note" },
    el("p", { class: "note-meta" }, timeEl(note.at), ` · ${note.author}`),
    el("p", { class: "note-text", text: note.text }))));
  $("notes-empty").hidden = notes.length > 0;
}

async function addNote(event) {
  event.preventDefault();
  const id = app.selected;
  const text = $("note-text").value.trim();
  clearProblem("note-problem");
  if (!text) return showProblem("note-problem", "Write the note first.");
  if (text.length > 4000) return showProblem("note-problem", "A note is at most 4000 characters.");
  const button = event.submitter || $("note-form").querySelector("button");
  button.disabled = true;
  try {
    await api(`/crisis/cases/${enc(id)}/notes`, { method: "POST", body: { text } });
    $("note-text").value = "";
    announce("Note added");
    await Promise.all([refreshNotes(id), refreshDetail(id)]);
  } catch (error) {
    showProblem("note-problem", error);
  } finally {
    button.disabled = false;
  }
}

// The safety plan: six editable lists. Redrawn only when opened and after saving, never by a live
// event, so what the responder is typing is not lost.
async function refreshPlan(id) {
  let plan;
  try {
    plan = await api(`/crisis/cases/${enc(id)}/safety-plan`);
  } catch (error) {
    if (app.selected === id && !(error instanceof SessionEnded)) showProblem("plan-problem", error);
    return;
  }
  if (app.selected === id) renderPlan(plan);
}

function renderPlan(plan) {
  const fresh = !plan.updated_at;
  $("plan-updated").textContent = "";
  if (plan.updated_at) {
    $("plan-updated").append("Last saved ", timeEl(plan.updated_at), plan.updated_by ? ` by ${plan.updated_by}` : "");
  } else {
    $("plan-updated").textContent = "No safety plan yet: fill in what the person says, in their words.";
  }
  $("plan-steps").replaceChildren(...PLAN_STEPS.map(([key, title]) => {
    let items = Array.isArray(plan[key]) ? plan[key] : [];
    if (fresh && key === "professionals" && !items.length) items = [SUGGESTED_PROFESSIONAL];
    const list = el("ul", { class: "plain plan-items", data: { step: key } });
    const fieldset = el("fieldset", { class: "plan-step", data: { step: key } },
      el("legend", { text: title }), list,
      el("button", {
        type: "button", class: "secondary", text: "Add item",
        "aria-label": `Add item to ${stepName(title)}`,
        onclick: () => {
          if (list.children.length >= PLAN_ITEMS) return showProblem("plan-problem", `At most ${PLAN_ITEMS} items per step.`);
          const input = addPlanItem(list, title, "");
          input.focus();
        },
      }));
    for (const item of items.length ? items : [""]) addPlanItem(list, title, item);
    return fieldset;
  }));
}

function stepName(title) {
  return title.replace(/^\d+\.\s*/, "");
}

function addPlanItem(list, title, value) {
  const li = el("li", { class: "plan-item" });
  const input = el("input", { type: "text", maxLength: 500, value, autocomplete: "off" });
  const label = el("label", { class: "visually-hidden" });
  const remove = el("button", { type: "button", class: "secondary", text: "Remove" });
  li.append(label, input, remove);
  list.append(li);
  renumber(list, title);
  remove.addEventListener("click", () => {
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    if (!list.children.length) addPlanItem(list, title, "");
    renumber(list, title);
    (next ? next.querySelector("input") : list.querySelector("input")).focus();
  });
  return input;
}

// Labels say which step and which item, so each input and its remove button has a name of its own.
function renumber(list, title) {
  [...list.children].forEach((li, i) => {
    const input = li.querySelector("input");
    input.id = `plan-${list.dataset.step}-${i + 1}`;
    const label = li.querySelector("label");
    label.htmlFor = input.id;
    label.textContent = `${stepName(title)}, item ${i + 1}`;
    li.querySelector("button").setAttribute("aria-label", `Remove item ${i + 1} of ${stepName(title)}`);
  });
}

async function savePlan(event) {
  event.preventDefault();
  const id = app.selected;
  clearProblem("plan-problem");
  $("plan-saved").textContent = "";
  const body = {};
  for (const [key, title] of PLAN_STEPS) {
    const values = [...document.querySelectorAll(`#plan-steps ul[data-step="${key}"] input`)]
      .map((input) => input.value.trim()).filter(Boolean);
    if (values.length > PLAN_ITEMS) return showProblem("plan-problem", `${stepName(title)}: at most ${PLAN_ITEMS} items.`);
    if (values.some((v) => v.length > 500)) return showProblem("plan-problem", `${stepName(title)}: an item is at most 500 characters.`);
    body[key] = values;
  }
  const button = event.submitter || $("plan-form").querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const plan = await api(`/crisis/cases/${enc(id)}/safety-plan`, { method: "PUT", body });
    if (app.selected === id) renderPlan(plan);
    $("plan-saved").textContent = "Safety plan saved.";
    refreshDetail(id);
  } catch (error) {
    showProblem("plan-problem", error);
  } finally {
    button.disabled = false;
  }
}

// The partners of the case's own organization (a regional responder resolving another organization's
// case hands the person to one of theirs), read afresh whenever a case is opened: partners change.
async function loadPartners(id) {
  let partners;
  try {
    partners = await api(`/crisis/cases/${enc(id)}/partners`);
  } catch (error) {
    // A case that cannot be read says so above the panel; the resolve form shows nothing then.
    if (app.selected === id && !(error instanceof SessionEnded) && error.status !== 404) showProblem("resolve-problem", error);
    return;
  }
  if (app.selected !== id) return;
  app.partners = { caseId: id, list: partners };
  const chosen = $("resolve-partner").value;
  const options = partners.map((p) => el("option", { value: p.partner_id, text: p.name, selected: p.partner_id === chosen }));
  $("resolve-partner").replaceChildren(el("option", { value: "", text: "Choose a partner" }), ...options);
  $("partner-empty").hidden = partners.length > 0;
  if (app.detail && app.detail.id === id) renderDetail(app.detail);
}

function partnerName(id) {
  const list = app.partners && app.partners.caseId === app.selected ? app.partners.list : [];
  const partner = list.find((p) => p.partner_id === id);
  return partner ? partner.name : id;
}

function syncReferral() {
  const referral = $("resolve-referral").value;
  $("partner-field").hidden = referral !== "warm_handoff";
  $("other-field").hidden = referral !== "other";
  $("resolve-partner").required = referral === "warm_handoff";
  $("resolve-other").required = referral === "other";
}

async function resolveCase(event) {
  event.preventDefault();
  const id = app.selected;
  clearProblem("resolve-problem");
  const body = { outcome: $("resolve-outcome").value, referral: $("resolve-referral").value };
  // Nothing is chosen for the responder: what goes in the record is what they chose (the form is
  // novalidate, so `required` alone would not stop it).
  if (!body.outcome || !body.referral) {
    const missing = [!body.outcome && "the outcome", !body.referral && "the referral"].filter(Boolean).join(" and ");
    showProblem("resolve-problem", `Choose ${missing} before resolving the case.`);
    return $(body.outcome ? "resolve-referral" : "resolve-outcome").focus();
  }
  if (body.referral === "warm_handoff") {
    body.partner_id = $("resolve-partner").value;
    if (!body.partner_id) {
      showProblem("resolve-problem", "Choose the partner the person was handed to.");
      return $("resolve-partner").focus();
    }
  }
  if (body.referral === "other") {
    body.referral_other = $("resolve-other").value.trim();
    if (!body.referral_other) {
      showProblem("resolve-problem", "Say what the referral was.");
      return $("resolve-other").focus();
    }
  }
  const button = event.submitter || $("resolve-form").querySelector("button");
  button.disabled = true;
  try {
    await api(`/crisis/cases/${enc(id)}/resolve`, { method: "POST", body });
    announce(`Case ${short(id)} resolved`);
    await Promise.all([refreshDetail(id), refreshCases(), refreshFollowUps()]);
    $("case-heading").focus();
  } catch (error) {
    showProblem("resolve-problem", error);
  } finally {
    button.disabled = false;
  }
}

// "Cancel case" only asks: the case is cancelled by "Confirm cancel", which it reveals.
function askCancel() {
  clearProblem("cancel-problem");
  const reason = $("cancel-reason").value;
  if (!reason) {
    showProblem("cancel-problem", "Choose why the case is cancelled.");
    return $("cancel-reason").focus();
  }
  $("cancel-confirm-text").textContent = `Cancel case ${short(app.selected)} (${CANCEL_LABEL[reason] || reason})? Its escalation stops.`;
  $("cancel-button").hidden = true;
  $("cancel-confirm").hidden = false;
  $("cancel-confirm-button").focus();
}

function keepCase({ focus = false } = {}) {
  $("cancel-confirm").hidden = true;
  $("cancel-button").hidden = false;
  if (focus) $("cancel-button").focus();
}

async function cancelCase(event) {
  event.preventDefault();
  const id = app.selected;
  const reason = $("cancel-reason").value;
  clearProblem("cancel-problem");
  // Enter in the form, or a confirmation left over from another reason: ask (again) first.
  if ($("cancel-confirm").hidden || !reason) return askCancel();
  const button = $("cancel-confirm-button");
  button.disabled = true;
  try {
    await api(`/crisis/cases/${enc(id)}/cancel`, { method: "POST", body: { reason } });
    announce(`Case ${short(id)} cancelled`);
    keepCase();
    await Promise.all([refreshDetail(id), refreshCases()]);
    $("case-heading").focus();
  } catch (error) {
    showProblem("cancel-problem", error);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------------
// My follow-ups: caring contacts after a crisis closes

async function refreshFollowUps() {
  let followUps;
  try {
    followUps = await api("/crisis/follow-ups");
    clearProblem("follow-ups-problem");
  } catch (error) {
    if (!(error instanceof SessionEnded)) showProblem("follow-ups-problem", error);
    return;
  }
  followUps.sort((a, b) => Date.parse(a.due_by) - Date.parse(b.due_by));
  $("follow-ups").replaceChildren(...followUps.map((f) => {
    // A coordinator also sees those owed by people taken off the staff, so none is left undone.
    const owner = f.responder_id && f.responder_id !== app.session.sub ? f.responder_id : null;
    const li = el("li", {
      class: "follow-up", id: `follow-up-${f.case_id}`,
      data: { caseId: f.case_id, dueBy: f.due_by, overdue: String(Boolean(f.overdue)), owner: owner || "" },
    });
    li.append(
      el("p", {}, el("strong", { text: `Case ${short(f.case_id)}` }), " · due by ", timeEl(f.due_by),
        owner ? el("span", { class: "owed-by" }, " · owed by ", el("span", { class: "id", text: owner })) : "",
        el("span", { class: "flag overdue-flag", text: "Overdue", hidden: true })),
      el("div", { class: "actions" },
        el("button", {
          type: "button", class: "secondary", text: "Open case", "aria-label": `Open case ${short(f.case_id)}`,
          onclick: () => openCase(f.case_id),
        }),
        el("button", {
          type: "button", text: "Mark done",
          "aria-label": `Mark done: caring contact for case ${short(f.case_id)}` + (owner ? `, owed by ${owner}` : ""),
          onclick: (e) => markFollowUpDone(f.case_id, e.currentTarget),
        })),
      el("p", { class: "problem", role: "alert", hidden: true }),
    );
    if (f.overdue || Date.parse(f.due_by) < now()) markOverdue(li);
    return li;
  }));
  $("follow-ups-empty").hidden = followUps.length > 0;
}

function markOverdue(li) {
  li.classList.add("overdue");
  li.querySelector(".overdue-flag").hidden = false;
}

async function markFollowUpDone(caseId, button) {
  const li = button.closest("li");
  const problem = li.querySelector(".problem");
  problem.hidden = true;
  button.disabled = true;
  try {
    await api(`/crisis/cases/${enc(caseId)}/follow-up`, { method: "POST", body: {} });
    announce(`Caring contact for case ${short(caseId)} done`);
    await refreshFollowUps();
    if (app.selected === caseId) refreshDetail(caseId);
    $("follow-ups-heading").focus();
  } catch (error) {
    problem.textContent = problemText(error);
    problem.hidden = false;
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------------
// Team: staff, rosters and the protocol (coordinators and org admins)

function managesTeam() {
  return app.session.roles.some((role) => role === "coordinator" || role === "org_admin");
}

async function refreshTeam() {
  clearTimeout(app.teamTimer);
  clearProblem("team-problem");
  const [staff, rosters, protocol] = await Promise.allSettled([
    api("/crisis/staff"), api("/crisis/rosters"), readProtocol(),
  ]);
  const failed = [staff, rosters, protocol].find((r) => r.status === "rejected");
  if (failed && failed.reason instanceof SessionEnded) return;
  if (failed) showProblem("team-problem", failed.reason);
  if (staff.status === "fulfilled") {
    app.staff = staff.value;
    renderStaff();
  }
  if (rosters.status === "fulfilled") renderRosters(rosters.value);
  if (protocol.status === "fulfilled") renderProtocol(protocol.value);
  // Who is on call changes with time: read again when the next handover is due (at least hourly).
  const changes = rosters.status === "fulfilled"
    ? rosters.value.map((r) => Date.parse(r.next_change_at)).filter((t) => t > now())
    : [];
  const next = Math.min(now() + 3600 * SECOND, ...changes);
  app.teamTimer = setTimeout(() => refreshSoon({ team: true }), Math.max(SECOND, next - now() + SECOND));
}

async function readProtocol() {
  try {
    return await api("/crisis/protocol");
  } catch (error) {
    if (error.status === 404) return null; // the default: straight to the catch-all
    throw error;
  }
}

function staffRoles(row) {
  return [...row.querySelectorAll("input[type=checkbox]:checked")].map((box) => box.value);
}

function renderStaff() {
  const rows = [...app.staff].sort((a, b) => Number(b.active) - Number(a.active) || a.responder_id.localeCompare(b.responder_id));
  $("staff-rows").replaceChildren(...rows.map((person) => {
    const who = person.responder_id;
    const tr = el("tr", { class: person.active ? "" : "inactive", data: { person: who } });
    const roles = el("fieldset", { class: "roles" }, el("legend", { class: "visually-hidden", text: `Roles of ${who}` }),
      ...STAFF_ROLES.map(([value, label]) => el("label", {},
        el("input", { type: "checkbox", value, checked: person.roles.includes(value) }), ` ${label}`)));
    const problem = el("p", { class: "problem", role: "alert", hidden: true });
    const save = el("button", {
      type: "button", class: "secondary", text: person.active ? "Save roles" : "Reactivate",
      "aria-label": `${person.active ? "Save roles" : "Reactivate"} ${who}`,
      onclick: () => staffChange(tr, problem, () => {
        const chosen = staffRoles(tr);
        if (!chosen.length) throw new Problem(422, "Choose at least one role", "");
        return api(`/crisis/staff/${enc(who)}`, { method: "PUT", body: { roles: chosen } });
      }, person.active ? `Roles of ${who} saved` : `${who} reactivated`),
    });
    // Deactivating stops every alert to the person at once: "Deactivate" only asks, and "Confirm
    // deactivate", which it reveals, does it.
    let deactivate = null, confirm = null;
    if (person.active) {
      const confirmButton = el("button", {
        type: "button", class: "danger", text: "Confirm deactivate", "aria-label": `Confirm deactivate ${who}`,
        onclick: () => staffChange(tr, problem, () => api(`/crisis/staff/${enc(who)}`, { method: "DELETE" }),
          `${who} deactivated: they are not notified any more`),
      });
      const keep = el("button", {
        type: "button", class: "secondary", text: "Keep", "aria-label": `Keep ${who} active`,
        onclick: () => { confirm.hidden = true; deactivate.hidden = false; deactivate.focus(); },
      });
      confirm = el("div", { class: "confirm", hidden: true },
        el("p", { text: `Deactivate ${who}? They are not notified of any alert from then on.` }),
        el("div", { class: "actions" }, confirmButton, keep));
      deactivate = el("button", {
        type: "button", class: "danger", text: "Deactivate", "aria-label": `Deactivate ${who}`,
        onclick: () => { problem.hidden = true; deactivate.hidden = true; confirm.hidden = false; confirmButton.focus(); },
      });
    }
    tr.append(
      el("td", { data: { label: "Person" } }, el("span", { class: "id", text: who })),
      el("td", { data: { label: "Roles" } }, roles),
      el("td", { data: { label: "Status" }, text: person.active ? "Active" : "Deactivated" }),
      el("td", { data: { label: "Actions" } }, el("div", { class: "actions" }, save, deactivate), confirm, problem),
    );
    return tr;
  }));
}

async function staffChange(row, problem, change, done) {
  problem.hidden = true;
  for (const button of row.querySelectorAll("button")) button.disabled = true;
  try {
    await change();
    announce(done);
    await refreshTeam();
    const again = document.querySelector(`#staff-rows tr[data-person="${CSS.escape(row.dataset.person)}"] button`);
    if (again) again.focus();
  } catch (error) {
    problem.textContent = problemText(error);
    problem.hidden = false;
    for (const button of row.querySelectorAll("button")) button.disabled = false;
  }
}

async function addStaff(event) {
  event.preventDefault();
  clearProblem("staff-problem");
  const who = $("staff-id").value.trim();
  const roles = [...$("staff-form").querySelectorAll("input[name=roles]:checked")].map((box) => box.value);
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(who)) {
    return showProblem("staff-problem", "A person's id is 1 to 64 letters, digits and _ . : -");
  }
  if (!roles.length) return showProblem("staff-problem", "Choose at least one role.");
  try {
    await api(`/crisis/staff/${enc(who)}`, { method: "PUT", body: { roles } });
    $("staff-form").reset();
    announce(`${who} added to the staff`);
    await refreshTeam();
  } catch (error) {
    showProblem("staff-problem", error);
  }
}

function responderOptions(selected, { nobody = false } = {}) {
  const people = app.staff.filter((p) => p.active && p.roles.includes("responder")).map((p) => p.responder_id);
  if (selected && !people.includes(selected)) people.push(selected);
  const options = people.sort().map((id) => el("option", { value: id, text: id, selected: id === selected }));
  if (nobody) options.push(el("option", { value: "", text: "Nobody (a planned gap)" }));
  return options;
}

// datetime-local gives the browser's wall time; the API wants an instant.
function instantOf(local) {
  const at = new Date(local);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

function renderRosters(rosters) {
  $("rosters-empty").hidden = rosters.length > 0;
  const myZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone";
  $("rosters").replaceChildren(...rosters.map((roster) => rosterCard(roster, myZone)), newRosterForm());
}

function rosterCard(roster, myZone) {
  const rid = roster.roster_id;
  const key = rid.replace(/[^A-Za-z0-9_-]/g, "_");
  const problem = el("p", { class: "problem", role: "alert", hidden: true });
  const order = [...roster.responder_ids];
  const save = async (change, done) => {
    problem.hidden = true;
    try {
      const body = {
        responder_ids: order,
        rotation_start: roster.rotation_start.slice(0, 16),
        overrides: roster.overrides.map((o) => ({ start: o.start, end: o.end, responder_id: o.responder_id })),
      };
      change(body);
      if (!body.responder_ids.length) throw new Problem(422, "A rotation needs at least one person", "");
      await api(`/crisis/rosters/${enc(rid)}`, { method: "PUT", body });
      announce(done);
      await refreshTeam();
      const card = document.querySelector(`article.roster[data-roster="${CSS.escape(rid)}"]`);
      if (card) card.querySelector("h4").focus();
    } catch (error) {
      problem.textContent = problemText(error);
      problem.hidden = false;
    }
  };

  const rotation = el("ol", { class: "rotation" });
  const drawRotation = () => {
    rotation.replaceChildren(...order.map((who, i) => el("li", {},
      el("span", { class: "id", text: who }),
      el("span", { class: "actions" },
        el("button", { type: "button", class: "secondary", text: "Up", "aria-label": `Move ${who} up`, disabled: i === 0,
          onclick: () => { [order[i - 1], order[i]] = [order[i], order[i - 1]]; drawRotation(); } }),
        el("button", { type: "button", class: "secondary", text: "Down", "aria-label": `Move ${who} down`, disabled: i === order.length - 1,
          onclick: () => { [order[i + 1], order[i]] = [order[i], order[i + 1]]; drawRotation(); } }),
        el("button", { type: "button", class: "secondary", text: "Remove", "aria-label": `Remove ${who} from the rotation`,
          onclick: () => { order.splice(i, 1); drawRotation(); } })))));
  };
  drawRotation();
  const addWho = el("select", { id: `rotation-add-${key}` }, ...responderOptions(null));
  const start = el("input", { type: "datetime-local", id: `rotation-start-${key}`, value: roster.rotation_start.slice(0, 16), required: true });
  const rotationForm = el("form", { class: "stacked", novalidate: true, onsubmit: (e) => {
    e.preventDefault();
    if (!start.value) return;
    save((body) => { body.rotation_start = start.value.slice(0, 16); }, `Rotation of ${rid} saved`);
  } },
  el("h5", { text: "Rotation, in order" }), rotation,
  el("div", { class: "inline" },
    el("label", { htmlFor: addWho.id, text: "Add to the rotation" }), addWho,
    el("button", { type: "button", class: "secondary", text: "Add", "aria-label": `Add to the rotation of ${rid}`,
      onclick: () => { if (addWho.value && !order.includes(addWho.value)) { order.push(addWho.value); drawRotation(); } } })),
  el("label", { htmlFor: start.id, text: `Rotation start (first handover, wall time in ${roster.time_zone})` }), start,
  el("div", { class: "actions" }, el("button", { type: "submit", text: "Save rotation", "aria-label": `Save the rotation of ${rid}` })));

  const overrides = el("ul", { class: "plain overrides" }, ...roster.overrides.map((o, i) => el("li", {},
    el("span", { text: `${o.responder_id || "Nobody (a planned gap)"} on call from ` }), timeEl(o.start), " to ", timeEl(o.end), " ",
    el("button", { type: "button", class: "secondary", text: "Remove", "aria-label": `Remove the override of ${o.responder_id || "nobody"} from ${new Date(o.start).toLocaleString()}`,
      onclick: () => save((body) => { body.overrides.splice(i, 1); }, "Override removed") }))));
  const who = el("select", { id: `override-who-${key}` }, ...responderOptions(null, { nobody: true }));
  const from = el("input", { type: "datetime-local", id: `override-from-${key}`, required: true });
  const to = el("input", { type: "datetime-local", id: `override-to-${key}`, required: true });
  const overrideForm = el("form", { class: "stacked card", novalidate: true, onsubmit: (e) => {
    e.preventDefault();
    const startAt = instantOf(from.value), endAt = instantOf(to.value);
    if (!startAt || !endAt) {
      problem.textContent = "Give when the override starts and ends.";
      problem.hidden = false;
      return;
    }
    if (Date.parse(endAt) <= Date.parse(startAt)) {
      problem.textContent = "The override must end after it starts.";
      problem.hidden = false;
      return;
    }
    save((body) => { body.overrides.push({ start: startAt, end: endAt, responder_id: who.value || null }); },
      `${who.value || "Nobody"} on call from ${new Date(startAt).toLocaleString()}`);
  } },
  el("h5", { text: "Add an override" }),
  el("label", { htmlFor: who.id, text: "On call" }), who,
  el("label", { htmlFor: from.id, text: `From (your time, ${myZone})` }), from,
  el("label", { htmlFor: to.id, text: `To (your time, ${myZone})` }), to,
  el("div", { class: "actions" }, el("button", { type: "submit", text: "Add override", "aria-label": `Add override to ${rid}` })));

  return el("article", { class: "roster card", data: { roster: rid } },
    el("h4", { tabIndex: -1, text: `Roster ${rid}` }),
    el("dl", { class: "facts" },
      ...fact("On call now", el("strong", { class: "on-call-now", text: roster.on_call_now || "nobody" })),
      ...fact("Next", el("span", { class: "next-on-call", text: roster.next_on_call || "nobody" }),
        roster.next_change_at ? el("span", {}, " from ", timeEl(roster.next_change_at)) : ""),
      ...fact("Time zone", roster.time_zone)),
    problem, rotationForm,
    el("h5", { text: "Overrides" }),
    roster.overrides.length ? overrides : el("p", { class: "muted", text: "No overrides." }),
    overrideForm);
}

function newRosterForm() {
  const problem = el("p", { class: "problem", role: "alert", hidden: true });
  const id = el("input", { id: "new-roster-id", autocomplete: "off", maxLength: 64, required: true });
  const people = el("input", { id: "new-roster-people", autocomplete: "off", required: true });
  const start = el("input", { id: "new-roster-start", type: "datetime-local", required: true });
  return el("form", { class: "stacked card", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    problem.hidden = true;
    const responders = people.value.split(",").map((p) => p.trim()).filter(Boolean);
    try {
      if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(id.value.trim())) throw new Problem(422, "A roster id is 1 to 64 letters, digits and _ . : -", "");
      if (!responders.length || !start.value) throw new Problem(422, "Name the people in rotation order and the first handover", "");
      await api(`/crisis/rosters/${enc(id.value.trim())}`, {
        method: "PUT", body: { responder_ids: responders, rotation_start: start.value.slice(0, 16), overrides: [] },
      });
      announce(`Roster ${id.value.trim()} added`);
      await refreshTeam();
    } catch (error) {
      problem.textContent = problemText(error);
      problem.hidden = false;
    }
  } },
  el("h4", { text: "Add a roster" }),
  el("label", { htmlFor: id.id, text: "Roster id" }), id,
  el("label", { htmlFor: people.id, text: "People in rotation order (ids, separated by commas)" }), people,
  el("label", { htmlFor: start.id, text: "Rotation start (first handover, wall time of the organization)" }), start,
  problem,
  el("div", { class: "actions" }, el("button", { type: "submit", text: "Add roster" })));
}

function renderProtocol(protocol) {
  const box = $("protocol");
  if (!protocol) {
    box.replaceChildren(el("p", {
      text: "Your organization has no protocol of its own: every alert goes straight to the catch-all, the coordinators.",
    }));
    return;
  }
  const levels = protocol.levels || [];
  const catchAll = protocol.catch_all === "regional_team" ? "the regional team" : "the coordinators";
  const ladder = el("ol", { class: "ladder" }, ...levels.map((level, i) => {
    const targets = [];
    if (level.responder_ids && level.responder_ids.length) targets.push(level.responder_ids.join(", "));
    if (level.role) targets.push(level.role === "coordinator" ? "every coordinator" : "every responder");
    if (level.roster_id) targets.push(`on call in roster ${level.roster_id}`);
    return el("li", { class: "rung" },
      el("strong", { text: `Level ${i + 1}` }), ` · ${targets.join(" + ") || "nobody"}`,
      el("span", { class: "wait", text: `no answer within ${minutesText(level.timeout_minutes)} → ${i + 1 < levels.length ? `level ${i + 2}` : protocol.repeats ? "level 1 again, after the last round the catch-all" : "the catch-all"}` }));
  }));
  const starts = Object.entries(protocol.start_levels || {})
    .sort(([a], [b]) => (SEVERITY_RANK[a] ?? 9) - (SEVERITY_RANK[b] ?? 9))
    .map(([severity, level]) => `${SEVERITY_LABEL[severity] || severity}: level ${level}`).join(" · ");
  box.replaceChildren(
    levels.length ? ladder : el("p", { text: "No levels: alerts go straight to the catch-all." }),
    protocol.repeats ? el("p", { class: "repeats", text: `The levels run ${protocol.repeats + 1} times in all (${protocol.repeats} repeat${protocol.repeats > 1 ? "s" : ""}), then:` }) : "",
    el("p", { class: "rung catch-all" }, el("strong", { text: "Catch-all" }),
      ` · ${catchAll}, notified again every ${minutesText(protocol.catch_all_timeout_minutes)} until someone acknowledges`),
    el("p", { class: "muted", text: `An acknowledgement that is not followed by a resolution re-triggers the case after ${minutesText(protocol.ack_timeout_minutes)}.` }),
    starts ? el("p", { class: "muted", text: `Start level by severity: ${starts}.` }) : "",
  );
}

// ---------------------------------------------------------------------------------------------------
// Start

function caseFromHash() {
  const match = /^#case-(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

async function start() {
  let session;
  try {
    session = await readSession();
  } catch (error) {
    setStatus("signed-out", "Offline");
    showBanner("The crisis service could not be reached: " + problemText(error), "Try again", location.pathname, "offline");
    return;
  }
  if (!session) {
    // The case a notification's link opened is opened after signing in.
    if (caseFromHash()) sessionStorage.setItem(OPEN_AFTER_SIGN_IN, caseFromHash());
    location.replace(SIGN_IN);
    return;
  }
  adopt(session);
  app.memory = loadMemory(session);
  app.seen = new Set(app.memory.feed.map((entry) => entry.id).filter(Boolean));
  $("who-sub").textContent = session.sub;
  $("who-org").textContent = session.org;
  $("who").hidden = false;
  $("signout-button").hidden = false;
  $("alerts-button").hidden = !("Notification" in window) || Notification.permission !== "default";
  for (const kind of ["pointerdown", "keydown"]) {
    document.addEventListener(kind, unlockAudio, { once: true, capture: true });
  }
  $("console").hidden = false;
  $("team").hidden = !managesTeam();
  if (managesTeam()) {
    $("follow-ups-heading").textContent = "Follow-ups";
    $("follow-ups-intro").textContent = "Caring contacts after a crisis closes, due within 24 hours: yours, "
      + "and those owed by people no longer on the staff.";
  }
  renderStoredFeed();
  runStream();
  setInterval(tick, SECOND);
  const pending = sessionStorage.getItem(OPEN_AFTER_SIGN_IN);
  sessionStorage.removeItem(OPEN_AFTER_SIGN_IN);
  const open = caseFromHash() || pending || app.memory.selected;
  await Promise.all([
    refreshCases(),
    refreshFollowUps(),
    managesTeam() ? refreshTeam() : null,
    open ? openCase(open, { focus: false }) : null,
  ]);
}

document.addEventListener("DOMContentLoaded", () => {
  $("signout-button").addEventListener("click", signOut);
  $("alerts-button").addEventListener("click", enableAlerts);
  $("case-close").addEventListener("click", closeCase);
  $("acknowledge-button").addEventListener("click", acknowledge);
  $("note-form").addEventListener("submit", addNote);
  $("plan-form").addEventListener("submit", savePlan);
  $("resolve-form").addEventListener("submit", resolveCase);
  $("resolve-referral").addEventListener("change", syncReferral);
  $("cancel-form").addEventListener("submit", cancelCase);
  $("cancel-button").addEventListener("click", askCancel);
  $("cancel-keep-button").addEventListener("click", () => keepCase({ focus: true }));
  $("cancel-reason").addEventListener("change", () => keepCase());
  $("staff-form").addEventListener("submit", addStaff);
  window.addEventListener("hashchange", () => {
    const id = caseFromHash();
    if (id && id !== app.selected && app.session && !app.ended) openCase(id);
  });
  start();
});
