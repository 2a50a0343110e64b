// What every mentoring page shares: the token, kept in this tab only; calls to the JSON routes with it;
// problems said in words; signing in and out; small builders of table cells. Everything shown comes from
// the server and is set as text (textContent), never as HTML.
"use strict";
const TOKEN_KEY = "rn-token";
const $ = (id) => document.getElementById(id);
const page = { token: sessionStorage.getItem(TOKEN_KEY) || "", signedOut: {}, notFound: undefined, load: null, loaded: null };

class SignedOut extends Error {}
class Answer extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function call(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { Authorization: "Bearer " + page.token } });
  if (response.status in page.signedOut) throw new SignedOut(page.signedOut[response.status]);
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch { /* not JSON */ }
    throw new Answer(response.status, detail);
  }
  return response;
}

function announce(text) {
  $("announcer").textContent = text;
}

function report(error, why = {}) {
  if (error instanceof SignedOut) return signOut(error.message);
  const status = error instanceof Answer ? error.status : 0;
  $("problem").textContent = why[status] || "Something went wrong: " + error.message;
  $("problem").hidden = false;
}

function when(iso) {
  const time = document.createElement("time");
  time.dateTime = iso;
  time.textContent = new Date(iso).toLocaleString();
  return time;
}

function cell(label, ...content) {
  const td = document.createElement("td");
  td.dataset.label = label;
  td.append(...content);
  return td;
}

function idSpan(id) {
  const span = document.createElement("span");
  span.className = "id";
  span.textContent = id;
  return span;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

async function start() {
  $("signin").hidden = true;
  $("signout").hidden = false;
  try {
    await page.load();
  } catch (error) {
    return report(error, page.notFound ? { 404: page.notFound } : {});
  }
  if (page.loaded) page.loaded();
}

// Nothing of the last person's stays on the page: lists emptied, sections hidden, messages cleared.
function signOut(message) {
  page.token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  for (const list of document.querySelectorAll("main tbody, main ul")) list.replaceChildren();
  for (const section of document.querySelectorAll("main section")) section.hidden = true;
  for (const status of document.querySelectorAll("main [role=status]")) status.textContent = "";
  $("problem").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

// A page gives what it may not show to whom (`forbidden`, the 403 text), how it loads, and optionally
// what a 404 means for it and what to do once loaded.
function mountPage({ forbidden, load, notFound, loaded }) {
  page.signedOut = { 401: "Your token was not accepted: it may have expired. Paste a new one.", 403: forbidden };
  Object.assign(page, { load, notFound, loaded });
  $("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    page.token = $("token").value.trim().replace(/^Bearer\s+/i, "");
    if (!page.token) return;
    sessionStorage.setItem(TOKEN_KEY, page.token);
    $("signin-error").textContent = "";
    start();
  });
  $("signout").addEventListener("click", () => signOut(""));
  if (page.token) start();
}
