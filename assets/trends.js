/* The Trends section, closed at first (closed, it loads and draws nothing;
 * prefs.js remembers it open): a time range (prefs.js), the history window for it
 * (history-data.js: once, at the finest tier the plots' pixels can show),
 * the charts (trend-charts.js, uPlot), their text summaries and tables
 * (trend-stats.js), the offset's percentiles and the events
 * (trend-events.js). Each poll (live.json) extends the window by its one
 * row (extend()): no chunk is downloaded again; events.json is re-read
 * every EVENTS_EVERY_S. A drag over a chart zooms
 * in, reloading at a finer tier when one fits.
 */
import { afterPaint, byId, el, root, setAttr, setHidden, setText } from "./dom.js";
import { formatDateTime, formatDuration, formatSeconds } from "./format.js";
import { extend, loadWindow, openIndex } from "./history-data.js";
import { hooks, mark, record } from "./hooks.js";
import { RANGES, prefs, savePrefsSoon } from "./prefs.js";
import { CHARTS, makePlot, makeReadout, readout, seriesOf, themeColours } from "./trend-charts.js";
import { eventsIn, loadEvents, renderEvents } from "./trend-events.js";
import { PERCENTILES, percentiles, plotValues, sortedFinite, summarise, tableRows } from "./trend-stats.js";

const DATA_URL = new URL("data.json", document.baseURI);
const MIN_ZOOM_S = 60;
const TABLE_ROWS = 100;
const SUMMARY_EVERY_MS = 5000; // live updates refresh the text summaries at most this often
const EVENTS_EVERY_S = 60;     // ... and the events log
const MAX_PENDING = 600;       // rows polled while a window loads, applied after it

const section = byId("trends"), details = byId("trends-details"), grid = byId("trends-grid"), status = byId("trends-status");
const resetButton = byId("trends-reset");

let history = null;  // data.json's history: {index, events, position, row, ...}
// generation: bumped by every load and by closing, so that only the newest load draws
let indexUrl = null, win = null, zoom = null, generation = 0, busy = false, pending = [];
let boxes = [], colours = null, summarisedAt = 0, describing = false, turn = 0, eventsAt = 0;
let times = []; // win.t copied for uPlot once per window update, shared by the charts
const view = { since: 0, until: 0, events: [], onCursor, onSelect };

// loads: windows asked for; draws: {started, drawn, tier} from a load's first fetch to its charts
// painted; updates: main-thread ms of each live row (bench/trends_bench.py reads them)
const trendHooks = hooks.trends = { loads: 0, draws: [], updates: [] };
Object.defineProperty(trendHooks, "plots", { get: () => Object.fromEntries(boxes.map((b) => [b.chart.id, b.plot])) });
Object.defineProperty(trendHooks, "window", { get: () => win && { tier: win.tier, step_s: win.step_s, rows: rows(win), since: win.since, until: win.until } });
Object.defineProperty(trendHooks, "colours", { get: () => colours });

const rows = (w) => w.t.length;
// Safari has no requestIdleCallback: a short timeout there
const whenIdle = window.requestIdleCallback ? (cb) => requestIdleCallback(cb, { timeout: SUMMARY_EVERY_MS }) : (cb) => setTimeout(cb, 200);

/* ------------------------------------------------------------------ the boxes */

function buildBoxes() {
  for (const chart of CHARTS) {
    const id = "tc-" + chart.id, box = el("div", "hbox tchart");
    box.id = id;
    const title = el("h3", null, chart.title);
    title.id = id + "-h";
    const plot = el("div", "plot");
    setAttr(plot, "role", "img");
    setAttr(plot, "aria-labelledby", id + "-h");
    setAttr(plot, "aria-describedby", id + "-sum");
    const nodata = el("p", "nodata", "No data in this window");
    const read = el("p", "readout small");
    const sum = el("p", "tsum muted small");
    sum.id = id + "-sum";
    const details = el("details", "talt");
    const scroll = el("div", "tscroll");
    setAttr(scroll, "tabindex", "0");
    setAttr(scroll, "role", "region");
    setAttr(scroll, "aria-label", chart.title + ": table (scrolls sideways)");
    const table = el("table", "tbl num");
    table.append(el("thead"), el("tbody"));
    scroll.append(table);
    details.append(el("summary", null, "Table"), scroll);
    details.addEventListener("toggle", () => { if (details.open) fillTable(b); });
    box.append(title, plot, nodata, read, sum, details);
    grid.append(box);
    const b = { chart, box, plotDiv: plot, nodata, read, sum, details, table, plot: null, layout: null, key: null, inView: true, stale: false };
    boxes.push(b);
  }
  const seen = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const b = boxes.find((x) => x.box === entry.target);
      b.inView = entry.isIntersecting;
      if (b.inView && b.stale && b.plot && win) refresh(b);
    }
  });
  for (const b of boxes) seen.observe(b.box);
}

function plotSize(b) {
  const width = Math.max(200, Math.floor(b.plotDiv.clientWidth || grid.clientWidth || 300));
  return { width, height: width < 500 ? 170 : 210 };
}

/* points for a window: about two per pixel of the widest plot, and never
   fewer than a day of minutes (the min/max bands keep every spike) */
function maxPoints() {
  const width = boxes.reduce((w, b) => Math.max(w, b.plotDiv.clientWidth), 0) || 600;
  return Math.max(1500, 2 * width);
}

/* ------------------------------------------------------------------ drawing */

/* the window's buckets, as uPlot takes them (the loader's window is the view) */
function plotData(layout) {
  const n = rows(win), cols = win.cols, data = [times];
  for (const [name] of layout.series) data.push(plotValues(cols[name].mean, 0, n));
  if (layout.bands) {
    for (const [name] of layout.series) data.push(plotValues(cols[name].min, 0, n), plotValues(cols[name].max, 0, n));
  }
  return data;
}

function hasValues(data) {
  for (let k = 1; k < data.length; k++) if (data[k].some((v) => v !== null)) return true;
  return false;
}

/* the charts made anew: on a new window, a theme change */
function draw() {
  colours = colours || themeColours();
  times = Array.from(win.t);
  const coarse = win.step_s > 1;
  for (const b of boxes) {
    if (b.plot) { b.plot.destroy(); b.plot = null; }
    b.layout = { series: seriesOf(b.chart, win), bands: coarse && !!b.chart.band, coarse, whole: !!b.chart.whole };
    const data = plotData(b.layout);
    b.plot = makePlot(b.plotDiv, b.layout, data, plotSize(b), colours, view);
    b.key = makeReadout(b.read, b.layout);
    setHidden(b.nodata, hasValues(data));
  }
  describe();
}

/* after a live row: the same charts, new data; a chart out of view is
   brought up to date when it scrolls into view. On a coarse tier a second
   moves the last bucket by less than a pixel: one chart per poll, in turn */
function redraw() {
  times = Array.from(win.t); // a new copy, not refilled: the charts not refreshed now keep the old one
  for (const b of boxes) b.stale = true;
  const shown = boxes.filter((b) => b.inView);
  if (win.step_s === 1) shown.forEach(refresh);
  else if (shown.length) refresh(shown[turn++ % shown.length]);
  if (!describing && performance.now() - summarisedAt > SUMMARY_EVERY_MS) {
    describing = true; // the words can wait for an idle moment
    whenIdle(() => { describing = false; if (win) describe(); });
  }
}

function refresh(b) {
  b.stale = false;
  const data = plotData(b.layout);
  b.plot.batch(() => b.plot.setData(data)); // drawn now, not in a microtask: the update's cost is measured whole
  setHidden(b.nodata, hasValues(data));
}

/* the words beside the pictures: summaries, open tables, percentiles, events */
function describe() {
  summarisedAt = performance.now();
  const n = rows(win);
  for (const b of boxes) {
    const parts = b.layout.series.map(([name, label, , format]) => {
      const s = summarise(win.cols[name], 0, n);
      return s.n ? `${label}: min ${format(s.min)}, median ${format(s.median)}, max ${format(s.max)}` : `${label}: no data`;
    });
    setText(b.sum, parts.length ? parts.join("; ") + "." : "No data in this window.");
    if (b.details.open) fillTable(b);
    if (b.plot.cursor.idx == null) showLatest(b);
  }
  renderPercentiles(n);
  renderEvents(byId("trends-events"), eventsIn(view.events, view.since, view.until));
}

function fillTable(b) {
  const n = rows(win), head = b.table.tHead, body = b.table.tBodies[0];
  const hr = el("tr");
  for (const text of ["Time"].concat(b.layout.series.map((s) => s[1]))) {
    const th = el("th", null, text);
    setAttr(th, "scope", "col");
    hr.append(th);
  }
  head.replaceChildren(hr);
  const trs = tableRows(0, n, TABLE_ROWS).map((i) => {
    const tr = el("tr"), th = el("th", null, formatDateTime(win.t[i] * 1000));
    setAttr(th, "scope", "row");
    tr.append(th);
    for (const [name, , , format] of b.layout.series) tr.append(el("td", null, format(win.cols[name].mean[i])));
    return tr;
  });
  body.replaceChildren(...trs);
}

function renderPercentiles(n) {
  const col = win.cols.system_time_s, cells = byId("trends-pct").querySelectorAll("tbody td");
  const ps = col ? percentiles(sortedFinite(col.mean, 0, n)) : PERCENTILES.map(() => NaN);
  ps.forEach((v, k) => setText(cells[k], formatSeconds(v, true)));
  setText(cells[5], formatSeconds(ps[3] - ps[1]));
  setText(cells[6], formatSeconds(ps[4] - ps[0]));
  setText(byId("trends-pct-note"), win.step_s > 1
    ? `Of the ${formatDuration(win.step_s)} means of the system clock's offset in the window.`
    : "Of every second's system clock offset in the window.");
}

function showLatest(b) {
  const n = rows(win);
  readout(b.key, b.layout, win, n ? n - 1 : null, "Latest: ");
}

function onCursor(u) {
  const b = boxes.find((x) => x.plot === u);
  if (!b || !win) return;
  const idx = u.cursor.idx;
  if (idx == null) { showLatest(b); return; }
  readout(b.key, b.layout, win, idx);
}

function onSelect(u) {
  const { left, width } = u.select;
  if (width < 3) return;
  const a = u.posToVal(left, "x"), z = u.posToVal(left + width, "x");
  u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
  const mid = (a + z) / 2, half = Math.max(MIN_ZOOM_S, z - a) / 2;
  zoom = { since: Math.floor(mid - half), until: Math.ceil(mid + half) };
  load();
}

/* ------------------------------------------------------------------ loading */

function liveRange() {
  return { since: history.position - RANGES[prefs.range], until: history.position };
}

function showStatus() {
  if (!win) return;
  const step = formatDuration(win.step_s);
  const empty = boxes.every((b) => !b.nodata.hidden);
  const unread = (win.problems || []).length; // files that could not be read: drawn as gaps
  setText(status, (zoom ? "Zoomed: " + formatDateTime(zoom.since * 1000) + " to " + formatDateTime(zoom.until * 1000) + " · " : "")
    + step + " resolution" + (empty ? " · no data in this window" : "")
    + (unread ? ` · ${unread} history file${unread > 1 ? "s" : ""} could not be read (shown as gaps): ${win.problems[0]}` : ""));
  setHidden(resetButton, !zoom);
  root.setAttribute("data-trends", win.tier);
}

async function load() {
  const token = ++generation, started = performance.now();
  busy = true;
  const range = zoom || liveRange();
  mark("cs:trends-load");
  setText(status, "Loading…");
  trendHooks.loads++;
  try {
    const [index, events] = await Promise.all([openIndex(indexUrl), loadEvents(new URL(history.events, DATA_URL))]);
    const w = await loadWindow(index, indexUrl, range.since, range.until, maxPoints());
    if (token !== generation) return;
    win = w;
    view.events = events;
    eventsAt = history.position;
    if (!zoom) for (const [position, row] of pending) extend(win, position, row);
    pending = [];
    fit();
    draw();
    showStatus();
    busy = false;
    afterPaint((drawn) => {
      record(trendHooks.draws, { started, drawn, tier: w.tier });
      mark("cs:trends-drawn");
    });
  } catch (e) {
    if (token !== generation) return;
    busy = false;
    setText(status, "Cannot load the history: " + ((e && e.message) || String(e)));
  }
}

/* the x axis: the window (extend() slides a live one) */
function fit() {
  view.since = Math.min(win.since, win.t[0]);
  view.until = Math.max(win.until, win.t[rows(win) - 1]);
}

/* ------------------------------------------------------------------ the range picker */

function showRange() {
  for (const b of section.querySelectorAll(".range button")) setAttr(b, "aria-pressed", String(b.value === prefs.range));
}

function startPicker() {
  section.querySelector(".range").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || !Object.hasOwn(RANGES, button.value)) return;
    prefs.range = button.value;
    savePrefsSoon();
    showRange();
    zoom = null;
    load();
  });
  resetButton.addEventListener("click", () => { zoom = null; load(); });
}

/* ------------------------------------------------------------------ theme and size */

function watchTheme() {
  const again = () => { colours = null; if (win) draw(); };
  new MutationObserver(again).observe(root, { attributes: true, attributeFilter: ["data-theme"] });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", again);
  let frame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      for (const b of boxes) {
        if (!b.plot) continue;
        const size = plotSize(b);
        if (size.width !== b.plot.width || size.height !== b.plot.height) b.plot.setSize(size);
      }
    });
  }).observe(grid);
}

/* ------------------------------------------------------------------ open and closed */

function opened() {
  if (prefs.trendsOpen !== details.open) { prefs.trendsOpen = details.open; savePrefsSoon(); }
  if (!details.open) { // opened again: loaded again, up to date; a load under way is dropped
    win = null;
    generation++;
    busy = false;
    pending = [];
    return;
  }
  if (!boxes.length) {
    buildBoxes();
    showRange();
    startPicker();
    watchTheme();
  }
  load();
}

/* ------------------------------------------------------------------ each poll */

/* data.json's history (absent: history is off, the section hides; its
   index absent: the series could not be published on this tick, what is
   shown stays) */
export function updateTrends(h) {
  const on = !!(h && typeof h.events === "string" && typeof h.position === "number");
  const published = on && typeof h.index === "string";
  setHidden(section, !on || (!published && !history));
  if (!published) return;
  const first = !history;
  history = h;
  indexUrl = new URL(h.index, DATA_URL).href;
  if (first) {
    details.addEventListener("toggle", opened);
    details.open = prefs.trendsOpen; // opened() runs on the toggle this queues (none if it stays closed)
    return;
  }
  if (!details.open || !Array.isArray(h.row)) return;
  if (busy) {
    if (pending.length < MAX_PENDING) pending.push([h.position, h.row]);
    return;
  }
  if (!win || zoom) return;
  const started = performance.now();
  if (!extend(win, h.position, h.row)) return;
  fit();
  redraw();
  if (h.position - eventsAt >= EVENTS_EVERY_S) refreshEvents();
  record(trendHooks.updates, performance.now() - started);
}

async function refreshEvents() {
  eventsAt = history.position;
  try {
    view.events = await loadEvents(new URL(history.events, DATA_URL));
  } catch (e) { return; } // the old list stays; the next refresh tries again
  if (win) {
    for (const b of boxes) b.plot.redraw(false, false);
    renderEvents(byId("trends-events"), eventsIn(view.events, view.since, view.until));
  }
}
