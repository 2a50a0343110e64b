// The insights dashboards: figures per organization (and region) from GET /boards/{board}, and the trace
// search and waterfall from GET /traces. Everything shown comes from those answers and is set as text
// (textContent) or as SVG attributes, never as HTML. The token is kept in this tab only.
"use strict";

const TOKEN_KEY = "rn-insights-token";
const BOARDS = ["crisis", "notifications", "people", "services"];
const TABS = [...BOARDS, "traces"];
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

// Colour-blind safe (Okabe-Ito); a service keeps its colour on every chart, map and waterfall.
const SERVICE_COLOURS = {
  crisis: "#D55E00",
  notifications: "#0072B2",
  mentoring: "#009E73",
  meetings: "#CC79A7",
  insights: "#E69F00",
};
const SPARE_COLOURS = ["#56B4E9", "#8C6D1F", "#6A3D9A", "#999999", "#1B9E77"];
const CHART_COLOUR = "#1546a0";
const STEP_SECONDS = { minute: 60, hour: 3600, day: 86400, week: 604800 };

// What each breakdown is by, in words.
const BY_LABEL = {
  cases_opened: "Level", escalations: "Level", delivered: "Channel", failed: "Channel",
  by_category: "Category", fallbacks: "Channel that failed", dead_letters: "Stream",
  attendance: "Meeting", redeliveries: "Stream",
};
const BY_VALUE = { cases_opened: (v) => `level ${v}`, escalations: (v) => `level ${v}` };
const FACT_LABEL = {
  "rn.crisis.opened": "Case opened",
  "rn.crisis.escalated": "Escalated",
  "rn.crisis.first_delivery": "First escalation delivered",
  "rn.crisis.acknowledged": "Acknowledged",
  "rn.crisis.follow_up_done": "Caring contact done",
  "rn.notification.delivered": "Notification delivered",
  "rn.notification.failed": "Delivery failed",
  "rn.notification.fallback": "Fell back to another channel",
  "rn.messaging.redelivered": "Message redelivered",
  "rn.messaging.dead_lettered": "Message dead-lettered",
  "rn.mentoring.requested": "Mentor requested",
  "rn.mentoring.matched": "Mentor matched",
  "rn.mentoring.check_in_overdue": "Check-in overdue",
  "rn.meetings.attended": "Meeting attended",
};
const FACT_ATTRIBUTE = {
  "rn.crisis.level": ["level", String],
  "rn.duration_ms": ["after", (v) => duration(v)],
  "rn.crisis.catch_all": ["catch-all", (v) => (v ? "yes" : "no")],
  "rn.crisis.on_time": ["within 24 h", (v) => (v ? "yes" : "no")],
  "rn.notification.channel": ["channel", String],
  "rn.notification.category": ["category", String],
  "rn.messaging.stream": ["stream", String],
  "rn.meeting.id": ["meeting", String],
};

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  tab: "crisis",
  board: null, // the last board answer shown, redrawn as it is when the window is resized
  sort: { key: "count", descending: true }, // the operations tables' order
  timer: null,
  loads: 0, // a newer load makes an older answer stale
  lastSearch: null,
};

class SignedOut extends Error {}
class Refused extends Error {
  constructor(status, text) { super(text); this.status = status; }
}

// --- calls and problems --------------------------------------------------------------------------

// Problem details (RFC 9457) said in words: the detail, or what is invalid and where.
function problemText(body, response) {
  if (!body || typeof body !== "object") return response.statusText || `HTTP ${response.status}`;
  if (Array.isArray(body.errors) && body.errors.length) {
    return body.errors
      .map((e) => {
        const where = (e.loc || []).filter((part) => part !== "query" && part !== "path").join(" ");
        return where ? `${where}: ${e.msg}` : e.msg;
      })
      .join("; ");
  }
  return body.detail || body.title || response.statusText || `HTTP ${response.status}`;
}

async function call(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: "Bearer " + state.token, Accept: "application/json" } });
  } catch {
    throw new Refused(0, "insights could not be reached; check the connection and refresh");
  }
  if (response.status === 401) throw new SignedOut("Your token was not accepted: it may have expired. Paste a new one.");
  if (response.status === 403) {
    throw new SignedOut("This token is not an organization admin's, coordinator's or network admin's: the dashboards are theirs.");
  }
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: said by its status below */ }
  if (!response.ok) throw new Refused(response.status, problemText(body, response));
  return body;
}

function showProblem(error, what) {
  if (error instanceof SignedOut) return signOut(error.message);
  $("problem").textContent = `${what}: ${error.message}.`.replace(/\.\.$/, ".");
  $("problem").hidden = false;
}

function clearProblem() {
  $("problem").hidden = true;
  $("problem").textContent = "";
}

// --- formatting ----------------------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

function trimmed(x, digits) {
  return x.toFixed(digits).replace(/\.0+$/, "").replace(/(\.\d*?)0+$/, "$1");
}

// Milliseconds in the unit a person reads best.
function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1) return ms === 0 ? "0 ms" : "< 1 ms";
  if (ms < 1000) return `${trimmed(ms, ms < 10 ? 1 : 0)} ms`;
  if (ms < 60_000) return `${trimmed(ms / 1000, ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3_600_000) return `${trimmed(ms / 60_000, 1)} min`;
  return `${trimmed(ms / 3_600_000, 1)} h`;
}

function count(n) {
  return Number(n).toLocaleString();
}

function perMinute(n) {
  return n >= 10 ? count(Math.round(n)) : trimmed(n, n >= 1 ? 1 : 3);
}

function when(date, withDate, seconds = true) {
  const options = { hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}) };
  return withDate ? date.toLocaleString([], { ...options, year: "numeric", month: "short", day: "numeric" })
    : date.toLocaleTimeString([], options);
}

function colourOf(service) {
  if (SERVICE_COLOURS[service]) return SERVICE_COLOURS[service];
  let hash = 0;
  for (const ch of service) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return SPARE_COLOURS[hash % SPARE_COLOURS.length];
}

function swatch(colour) {
  const s = el("span", { class: "swatch", "aria-hidden": "true" });
  s.style.background = colour; // CSSOM, which the page's CSP allows (a style attribute it does not)
  return s;
}

// --- charts (uPlot) -------------------------------------------------------------------------------

const chartJobs = [];

// A chart is drawn once its cell is on the page, at the cell's width.
function chartInto(cell, times, step, series, { bars = false, format = count, legend = false, summary = "" }) {
  const box = el("div", { class: "chart", role: "img", "aria-label": summary });
  cell.append(box);
  if (typeof uPlot === "undefined") return;
  chartJobs.push(() => {
    const width = Math.max(180, Math.floor(box.clientWidth || 240));
    const axisFont = "11px system-ui, sans-serif";
    const opts = {
      width,
      height: legend ? 150 : 110,
      legend: { show: legend, live: false },
      cursor: { drag: { x: false, y: false }, points: { show: !bars } },
      // To the end of the last bucket, so its bar is drawn whole.
      scales: { x: { time: true, range: () => [times[0], times[times.length - 1] + STEP_SECONDS[step]] }, y: { range: (u, min, max) => [0, Math.max(bars ? 1 : 0.001, max || 0) * 1.1] } },
      axes: [
        { font: axisFont, stroke: "#4a5160", size: 40, grid: { show: false }, ticks: { size: 3 } },
        {
          font: axisFont, stroke: "#4a5160", size: 52, grid: { stroke: "#e1e4e9", width: 1 }, ticks: { size: 3 },
          values: (u, values) => values.map((v) => format(v)),
          ...(format === count ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 1e5, 1e6] } : {}),
        },
      ],
      series: [
        {},
        ...series.map(({ label, colour, values }) => ({
          label,
          stroke: colour,
          width: bars ? 0 : 2,
          fill: bars ? colour : undefined,
          spanGaps: false,
          points: { show: !bars && values.filter((v) => v !== null).length < 3, size: 5, fill: colour },
          paths: bars ? uPlot.paths.bars({ size: [0.7, 24], align: 1 }) : undefined,
          value: (u, v) => (v === null || v === undefined ? "—" : format(v)),
        })),
      ],
    };
    new uPlot(opts, [times, ...series.map((s) => s.values)], box);
  });
}

function drawCharts() {
  while (chartJobs.length) chartJobs.shift()();
}

// --- the board ------------------------------------------------------------------------------------

function figureCell(figure, column, value, board) {
  const cell = el("div", { class: "cell", "data-figure": figure.id, "data-column": column.id });
  cell.append(el("p", { class: "column-name", text: column.name }));
  if (value === null || value === undefined) {
    cell.classList.add("no-data");
    cell.append(
      el("p", { class: "big", text: "no data" }),
      el("p", { class: "detail", text: "nothing was heard from its source in this window" }),
    );
    return cell;
  }
  const per = board.step;
  switch (figure.kind) {
    case "count": return countCell(cell, figure, value, board, per);
    case "quantiles": return quantilesCell(cell, figure, value, board, per);
    case "share": return shareCell(cell, value);
    case "difference": return differenceCell(cell, figure, value);
    case "operations": return operationsCell(cell, value, board);
    case "edges": return edgesCell(cell, value);
    default: return cell;
  }
}

function countCell(cell, figure, value, board, per) {
  cell.append(el("p", { class: "big", text: count(value.total) }));
  if (!value.total) {
    cell.append(el("p", { class: "detail", text: "none in this window" }));
    return cell;
  }
  const peak = Math.max(...value.series);
  chartInto(cell, board.times, board.step, [{ label: figure.title, colour: CHART_COLOUR, values: value.series }], {
    bars: true,
    summary: `${figure.title} per ${per}: ${count(value.total)} in all, at most ${count(peak)} in one ${per}`,
  });
  const entries = Object.entries(value.by || {});
  if (entries.length) {
    const label = BY_VALUE[figure.id] || String;
    const rows = entries
      .sort((a, b) => b[1] - a[1])
      .map(([key, n]) => el("tr", {}, el("td", { text: label(key) }), el("td", { class: "num", text: count(n) })));
    cell.append(el("table", { class: "breakdown" },
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: BY_LABEL[figure.id] || "By" }), el("th", { scope: "col", class: "num", text: "Count" }))),
      el("tbody", {}, ...rows)));
  }
  return cell;
}

function quantilesCell(cell, figure, value, board, per) {
  if (value.p50 === null) {
    cell.append(el("p", { class: "big", text: "—" }), el("p", { class: "detail", text: "none measured in this window" }));
    return cell;
  }
  cell.append(
    el("p", { class: "big" }, duration(value.p50), " ", el("small", { text: "median" })),
    el("p", { class: "detail", text: `p90 ${duration(value.p90)} · p99 ${duration(value.p99)} · ${count(value.count)} measured` }),
  );
  chartInto(cell, board.times, board.step, [{ label: "median", colour: CHART_COLOUR, values: value.series }], {
    format: duration,
    summary: `${figure.title}, median per ${per}: ${duration(value.p50)} over the window`,
  });
  return cell;
}

function shareCell(cell, value) {
  const pct = value.total ? ` (${trimmed((value.part * 100) / value.total, 1)} %)` : "";
  cell.append(el("p", { class: "big", text: `${count(value.part)} of ${count(value.total)}${pct}` }));
  if (!value.total) cell.append(el("p", { class: "detail", text: "none in this window" }));
  return cell;
}

function differenceCell(cell, figure, value) {
  cell.append(el("p", { class: "big", text: count(value.total) }));
  if (figure.note) cell.append(el("p", { class: "detail", text: figure.note }));
  return cell;
}

const OPERATION_COLUMNS = [
  ["service", "Service", false], ["operation", "Operation", false], ["per_minute", "Per minute", true],
  ["count", "Spans", true], ["errors", "Errors", true], ["p50", "p50", true], ["p90", "p90", true], ["p99", "p99", true],
];

function operationsCell(cell, value, board) {
  const services = Object.keys(value.series_by_service);
  if (!value.rows.length) {
    cell.append(el("p", { class: "detail", text: "no spans in this window" }));
    return cell;
  }
  const total = value.rows.reduce((n, r) => n + r.count, 0);
  const errors = value.rows.reduce((n, r) => n + r.errors, 0);
  cell.append(el("p", { class: "detail", text: `${count(total)} spans, ${count(errors)} with an error, across ${services.length} services` }));
  chartInto(cell, board.times, board.step, services.map((s) => ({ label: s, colour: colourOf(s), values: value.series_by_service[s] })), {
    legend: true,
    summary: `Spans per ${board.step} of each service: ${services.join(", ")}`,
  });
  const { key, descending } = state.sort;
  const rows = [...value.rows].sort((a, b) => {
    const x = a[key] ?? -1;
    const y = b[key] ?? -1;
    const order = typeof x === "string" ? x.localeCompare(y) : x - y;
    return descending ? -order : order;
  });
  const head = el("tr", {}, ...OPERATION_COLUMNS.map(([id, label, numeric]) => {
    const th = el("th", { scope: "col", class: numeric ? "num" : "" });
    if (id === key) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    const button = el("button", { type: "button", class: "sort", text: label, "data-sort": id });
    th.append(button);
    return th;
  }));
  const body = rows.map((r) => el("tr", {},
    el("td", {}, swatch(colourOf(r.service)), " ", r.service),
    el("td", { text: r.operation }),
    el("td", { class: "num", text: perMinute(r.per_minute) }),
    el("td", { class: "num", text: count(r.count) }),
    el("td", { class: "num" + (r.errors ? " errors-some" : ""), text: r.errors ? `${count(r.errors)} errors` : "0" }),
    el("td", { class: "num", text: duration(r.p50) }),
    el("td", { class: "num", text: duration(r.p90) }),
    el("td", { class: "num", text: duration(r.p99) })));
  const table = el("table", { class: "operations" }, el("caption", { class: "visually-hidden", text: "Operations; choose a heading to sort" }),
    el("thead", {}, head), el("tbody", {}, ...body));
  cell.append(el("div", { class: "scroll" }, table));
  return cell;
}

// The service map: one box per service on a circle, an arrow per caller -> callee with its count.
function edgesCell(cell, value) {
  if (!value.edges.length) {
    cell.append(el("p", { class: "detail", text: "no calls between services in this window" }));
    return cell;
  }
  const services = [...new Set(value.edges.flatMap((e) => [e.from, e.to]))].sort();
  const W = 520, H = services.length > 2 ? 300 : 120, BW = 120, BH = 32;
  const rx = W / 2 - BW / 2 - 10, ry = H / 2 - BH / 2 - 10;
  const at = {};
  services.forEach((s, i) => {
    const angle = services.length > 2 ? -Math.PI / 2 + (2 * Math.PI * i) / services.length : Math.PI * (1 - i);
    at[s] = { x: W / 2 + rx * Math.cos(angle), y: H / 2 + ry * Math.sin(angle) };
  });
  const idSuffix = Math.random().toString(36).slice(2, 8);
  const markerId = `arrow-${idSuffix}`;
  const map = svg("svg", { class: "service-map", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": "Service map: " + value.edges.map((e) => `${e.from} calls ${e.to} ${e.count} times`).join("; ") },
  svg("defs", {}, svg("marker", { id: markerId, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }))));
  const edge = (from, to) => {
    const a = at[from], b = at[to];
    const dx = b.x - a.x, dy = b.y - a.y;
    const exit = (p) => Math.min((BW / 2 + 4) / Math.abs(dx || 1e-9), (BH / 2 + 4) / Math.abs(dy || 1e-9), 0.45) * p;
    const s = exit(1);
    // Both directions between two services: each arrow bends to its own side.
    const bend = value.edges.some((e) => e.from === to && e.to === from) ? 0.18 : 0;
    const len = Math.hypot(dx, dy) || 1;
    const start = { x: a.x + dx * s, y: a.y + dy * s }, end = { x: b.x - dx * s, y: b.y - dy * s };
    const mid = { x: (start.x + end.x) / 2 - (dy / len) * len * bend, y: (start.y + end.y) / 2 + (dx / len) * len * bend };
    return { d: `M ${start.x} ${start.y} Q ${mid.x} ${mid.y} ${end.x} ${end.y}`, label: { x: (start.x + 2 * mid.x + end.x) / 4, y: (start.y + 2 * mid.y + end.y) / 4 } };
  };
  for (const e of value.edges) {
    if (e.from === e.to) continue;
    const { d, label } = edge(e.from, e.to);
    const title = svg("title");
    title.textContent = `${e.from} → ${e.to}: ${count(e.count)}`;
    const text = svg("text", { x: label.x, y: label.y + 4, "text-anchor": "middle" });
    text.textContent = count(e.count);
    map.append(svg("g", { class: "edge" }, title, svg("path", { d, "marker-end": `url(#${markerId})` }), text));
  }
  for (const s of services) {
    const text = svg("text", { x: at[s].x, y: at[s].y + 4.5, "text-anchor": "middle" });
    text.textContent = s;
    map.append(svg("g", { class: "node", "data-service": s },
      svg("rect", { x: at[s].x - BW / 2, y: at[s].y - BH / 2, width: BW, height: BH, rx: 6, fill: "#fff", stroke: colourOf(s) }),
      text));
  }
  const list = el("ul", { class: "visually-hidden" }, ...value.edges.map((e) => el("li", { text: `${e.from} → ${e.to}: ${count(e.count)}` })));
  cell.append(map, list);
  return cell;
}

function describeWindow(board) {
  const start = new Date(board.start), end = new Date(board.end);
  const sameDay = start.toDateString() === end.toDateString() && start.toDateString() === new Date().toDateString();
  return `${when(start, !sameDay, false)} to ${when(end, !sameDay, false)}, by ${board.step}`;
}

function renderBoard(board) {
  state.board = board;
  chartJobs.length = 0;
  $("board-title").textContent = board.title;
  $("board-window").textContent = describeWindow(board);
  $("columns").replaceChildren(...board.columns.map((c) =>
    el("li", { "data-column": c.id }, c.name, c.kind === "organization" ? "" : el("span", { class: "kind", text: c.kind === "network" ? " · spans of no organization" : "" }))));
  const sections = board.figures.map((figure) => {
    // A table of many columns, or a map: each organization's gets the room to be read.
    const wide = figure.kind === "operations" || figure.kind === "edges";
    const head = el("div", { class: "figure-head" }, el("h3", { text: figure.title }));
    if (figure.note && figure.kind !== "difference") head.append(el("p", { class: "muted", text: figure.note }));
    const cells = el("div", { class: "cells" + (wide ? " wide" : "") + (figure.kind === "edges" ? " maps" : "") },
      ...board.columns.map((c) => figureCell(figure, c, figure.values[c.id], board)));
    return el("section", { class: wide ? "figure wide" : "figure", "data-figure": figure.id, "aria-label": figure.title }, head, cells);
  });
  // One column: the figures themselves sit side by side instead.
  $("board").classList.toggle("single", board.columns.length === 1);
  $("board").replaceChildren(...sections);
  $("charts-missing").hidden = typeof uPlot !== "undefined";
  drawCharts();
  const regions = board.columns.filter((c) => c.kind === "region").map((c) => c.name);
  $("who").textContent = regions.length ? `Network view: ${regions.join(", ")}` : board.columns.map((c) => c.name).join(", ");
  $("who").hidden = false;
}

function windowParams(seconds) {
  const end = new Date();
  const start = new Date(end.getTime() - seconds * 1000);
  return new URLSearchParams({ start: start.toISOString(), end: end.toISOString() });
}

async function loadBoard() {
  const id = state.tab;
  const load = ++state.loads;
  const params = windowParams(Number($("range").value));
  if ($("step").value) params.set("step", $("step").value);
  $("board").setAttribute("aria-busy", "true");
  try {
    const board = await call(`/boards/${id}?${params}`);
    if (load !== state.loads || state.tab !== id) return; // a newer load or another tab took over
    clearProblem();
    renderBoard(board);
    $("updated").textContent = `Updated at ${when(new Date(), false)}`;
  } catch (error) {
    if (load !== state.loads) return;
    showProblem(error, "These figures could not be read");
  } finally {
    if (load === state.loads) $("board").setAttribute("aria-busy", "false");
  }
}

// --- traces ---------------------------------------------------------------------------------------

function searchParams() {
  const form = $("trace-search");
  const params = windowParams(Number(form.elements.range.value));
  for (const name of ["service", "operation", "status", "min_ms", "max_ms", "case_id", "request_id"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, name === "request_id" ? value.toLowerCase() : value);
  }
  params.set("limit", "50");
  return params;
}

async function searchTraces(params) {
  state.lastSearch = params;
  const load = ++state.loads;
  $("trace-status").textContent = "Searching…";
  try {
    const hits = await call(`/traces?${params}`);
    if (load !== state.loads) return;
    clearProblem();
    renderHits(hits);
  } catch (error) {
    if (load !== state.loads) return;
    $("trace-status").textContent = "";
    showProblem(error, "The traces could not be searched");
  }
}

function renderHits(hits) {
  $("trace-status").textContent = hits.length
    ? `${hits.length} ${hits.length === 1 ? "trace" : "traces"} found, newest first.`
    : "No trace of yours matches in this time range.";
  $("trace-results").hidden = !hits.length;
  $("trace-rows").replaceChildren(...hits.map((h) => {
    const open = el("button", { type: "button", class: "link", text: h.operation, "data-trace": h.trace_id,
      "aria-label": `Open the trace of ${h.operation} (${h.service}) at ${when(new Date(h.start), true)}` });
    return el("tr", { class: h.error ? "error" : "", "data-trace": h.trace_id },
      el("td", { text: when(new Date(h.start), true) }),
      el("td", {}, swatch(colourOf(h.service)), " ", h.service),
      el("td", {}, open),
      el("td", { class: "num", text: duration(h.duration_ms) }),
      el("td", { class: "num", text: count(h.matched) }),
      el("td", {}, el("span", { class: h.error ? "badge error" : "badge ok", text: h.error ? "✕ error" : "ok" })));
  }));
}

async function openTrace(traceId) {
  try {
    const trace = await call(`/traces/${encodeURIComponent(traceId)}`);
    clearProblem();
    renderWaterfall(trace);
    history.replaceState(null, "", `#traces/${trace.trace_id}`);
  } catch (error) {
    if (error instanceof Refused && error.status === 404) {
      error.message = "no span of this trace is yours to see (it may be older than the spans kept)";
    }
    showProblem(error, "This trace could not be opened");
  }
}

function factText(fact, t0) {
  const parts = Object.entries(fact.attributes).map(([key, value]) => {
    const [label, show] = FACT_ATTRIBUTE[key] || [key.replace(/^rn\./, ""), String];
    return `${label} ${show(value)}`;
  });
  const offset = fact.time_ns ? ` at +${duration((fact.time_ns - t0) / 1e6)}` : "";
  return `${FACT_LABEL[fact.name] || fact.name}${parts.length ? " — " + parts.join(", ") : ""}${offset}`;
}

// Spans in tree order (each after its parent, siblings by start), with their depth.
function treeOrder(spans) {
  const byId = new Map(spans.map((s) => [s.span_id, s]));
  const children = new Map();
  const roots = [];
  for (const s of [...spans].sort((a, b) => a.start_ns - b.start_ns)) {
    if (s.parent_span_id && byId.has(s.parent_span_id)) {
      if (!children.has(s.parent_span_id)) children.set(s.parent_span_id, []);
      children.get(s.parent_span_id).push(s);
    } else {
      roots.push(s);
    }
  }
  const ordered = [];
  const visit = (s, depth) => {
    ordered.push([s, depth]);
    for (const c of children.get(s.span_id) || []) visit(c, depth + 1);
  };
  for (const r of roots) visit(r, 0);
  return ordered;
}

function renderWaterfall(trace) {
  const spans = trace.spans;
  const t0 = Math.min(...spans.map((s) => s.start_ns));
  const t1 = Math.max(...spans.map((s) => s.end_ns));
  const total = Math.max(t1 - t0, 1);
  const errors = spans.filter((s) => s.status_code === 2).length;
  $("waterfall-title").textContent = `Trace ${trace.trace_id}`;
  $("waterfall-summary").textContent = `${spans.length} spans across ${trace.services.length} ${trace.services.length === 1 ? "service" : "services"}, ` +
    `${duration(total / 1e6)} from ${when(new Date(t0 / 1e6), true)}` +
    (errors ? `; ${errors} with an error` : "; no errors");
  $("waterfall-legend").replaceChildren(...trace.services.map((s) => el("li", {}, swatch(colourOf(s)), s)));
  const ticks = el("div", { class: "ticks" }, ...[0, 0.25, 0.5, 0.75, 1].map((f) => {
    const tick = el("span", { text: duration((total * f) / 1e6) });
    tick.style.left = `${f * 100}%`;
    return tick;
  }));
  $("waterfall-axis").replaceChildren(el("span", { text: "Span" }), ticks, el("span", { class: "num", text: "Duration" }));
  $("waterfall").replaceChildren(...treeOrder(spans).map(([s, depth]) => {
    const error = s.status_code === 2;
    const name = [swatch(colourOf(s.service)), el("span", { class: "svc", text: s.service }), el("span", { text: s.name })];
    if (error) name.push(el("span", { class: "badge error", text: "✕ error" }));
    const attributes = Object.entries(s.attributes);
    // The span's attributes open under its name: ids and protocol facts only (the allow-list).
    const label = attributes.length
      ? el("details", { class: "label" }, el("summary", {}, ...name),
        el("dl", {}, ...attributes.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })])))
      : el("div", { class: "label" }, el("span", { class: "summary" }, ...name));
    label.style.paddingLeft = `${Math.min(depth, 12) * 0.9}rem`;
    const bar = el("div", { class: "bar" });
    bar.style.left = `${((s.start_ns - t0) / total) * 100}%`;
    bar.style.width = `${Math.max(((s.end_ns - s.start_ns) / total) * 100, 0.3)}%`;
    bar.style.background = colourOf(s.service);
    const row = el("li", { class: error ? "span error" : "span", "data-span": s.span_id, "data-service": s.service },
      label, el("div", { class: "track", "aria-hidden": "true" }, bar),
      el("span", { class: "ms", text: duration((s.end_ns - s.start_ns) / 1e6) }));
    if (s.facts.length) {
      const facts = el("ul", { class: "facts" }, ...s.facts.map((f) => el("li", { text: factText(f, t0) })));
      facts.style.paddingLeft = `${Math.min(depth, 12) * 0.9 + 1.5}rem`;
      row.append(facts);
    }
    return row;
  }));
  $("waterfall-view").hidden = false;
  $("waterfall-title").focus();
}

// --- tabs, controls, refresh ------------------------------------------------------------------------

function selectTab(tab, { focus = false, load = true } = {}) {
  state.tab = tab;
  for (const button of document.querySelectorAll("[role=tab]")) {
    const selected = button.dataset.board === tab;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    if (selected && focus) button.focus();
  }
  $("panel").setAttribute("aria-labelledby", `tab-${tab}`);
  $("board-view").hidden = tab === "traces";
  for (const id of ["range-control", "step-control"]) $(id).hidden = tab === "traces"; // the search has its own
  $("traces-view").hidden = tab !== "traces";
  clearProblem();
  if (!location.hash.startsWith(`#${tab}`)) history.replaceState(null, "", `#${tab}`);
  if (tab !== "traces") {
    $("board").replaceChildren();
    $("columns").replaceChildren();
    $("board-window").textContent = "";
    if (load) loadBoard();
  }
}

function refresh() {
  if (state.tab !== "traces") return loadBoard();
  if (state.lastSearch) return searchTraces(searchParams());
}

function setAutoRefresh() {
  clearInterval(state.timer);
  state.timer = null;
  const seconds = Number($("refresh").value);
  if (seconds) state.timer = setInterval(() => { if (!document.hidden) refresh(); }, seconds * 1000);
}

function start() {
  $("signin").hidden = true;
  $("signout").hidden = false;
  $("dashboards").hidden = false;
  const [tab, traceId] = location.hash.slice(1).split("/");
  selectTab(TABS.includes(tab) ? tab : "crisis");
  if (tab === "traces" && traceId) openTrace(traceId);
  setAutoRefresh();
}

// Nothing of the last person's stays on the page: figures, traces and messages go with the token.
function signOut(message) {
  state.token = "";
  state.board = null;
  state.lastSearch = null;
  state.loads++;
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(state.timer);
  state.timer = null;
  for (const id of ["board", "columns", "trace-rows", "waterfall", "waterfall-legend", "waterfall-axis"]) $(id).replaceChildren();
  for (const id of ["board-window", "updated", "trace-status", "waterfall-summary"]) $(id).textContent = "";
  $("trace-results").hidden = true;
  $("waterfall-view").hidden = true;
  clearProblem();
  $("who").hidden = true;
  $("dashboards").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

function wire() {
  $("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim().replace(/^Bearer\s+/i, "");
    if (!state.token) {
      $("signin-error").textContent = "Paste a token first.";
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("signin-error").textContent = "";
    start();
  });
  $("signout").addEventListener("click", () => signOut(""));
  $("tabs").addEventListener("click", (event) => {
    const tab = event.target.closest("[role=tab]");
    if (tab) selectTab(tab.dataset.board);
  });
  $("tabs").addEventListener("keydown", (event) => {
    const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -TABS.length, End: TABS.length };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const i = Math.max(0, Math.min(TABS.length - 1, TABS.indexOf(state.tab) + moves[event.key]));
    selectTab(TABS[i], { focus: true });
  });
  $("controls").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  for (const id of ["range", "step"]) $(id).addEventListener("change", () => { if (state.tab !== "traces") loadBoard(); });
  $("refresh").addEventListener("change", setAutoRefresh);
  $("board").addEventListener("click", (event) => {
    const button = event.target.closest("button.sort");
    if (!button || !state.board) return;
    const key = button.dataset.sort;
    const numeric = OPERATION_COLUMNS.find(([id]) => id === key)[2];
    state.sort = { key, descending: state.sort.key === key ? !state.sort.descending : numeric };
    renderBoard(state.board);
    document.querySelector(`button.sort[data-sort="${key}"]`)?.focus();
  });
  $("trace-search").addEventListener("submit", (event) => {
    event.preventDefault();
    $("waterfall-view").hidden = true;
    searchTraces(searchParams());
  });
  $("trace-rows").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-trace]");
    if (button) openTrace(button.dataset.trace);
  });
  $("waterfall-close").addEventListener("click", () => {
    $("waterfall-view").hidden = true;
    history.replaceState(null, "", "#traces");
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { if (state.board && state.tab !== "traces") renderBoard(state.board); }, 250);
  });
  if (state.token) start();
  else $("token").focus();
}

wire();
