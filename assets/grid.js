/* The windowed card grid: only the cards in view exist in the DOM. Cards are
 * keyed by card key (the address), absolutely positioned from a row layout
 * (closed and open cards have fixed heights, measured once per width), and
 * a card whose data did not change is not touched.
 */
import { hasData, listUnknown, model, query, rowByKey, rowSignature, view, computeView } from "./clients.js";
import { afterPaint, byId, el, setAttr, setHidden, setText } from "./dom.js";
import { STATUS_WORD, formatAgo, formatDuration, formatInt, formatRate } from "./format.js";
import { hooks, record } from "./hooks.js";
import { STATUSES } from "./model.js";
import { isOpen, prefs, savePrefsSoon } from "./prefs.js";

const STATUS_ICON = ["✓", "!", "✕"];
const OVERSCAN_PX = 120; // cards rendered above and below the viewport
const POOL_MAX = 400; // detached cards kept for reuse
const LONG_NAME = 40; // characters: a hostname this long may not fit the details' name box
// characters that hide or reorder text: a hostname with them is flagged
const HIDDEN_CHARS = /[\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/;

const grid = byId("grid");
const layout = { cols: 1, cardWidth: 280, closedHeight: 96, openHeight: 320, gap: 10, minWidth: 280,
                 width: -1, tops: new Float64Array(1), rows: 0, total: 0 };
const cards = new Map(); // card key -> card element in the DOM
const pool = [];
let cardCount = 0;
let target = null; // the card key the last jump went to (revealCard): outlined

/* card sizes come from the stylesheet: measured on hidden probes */
function measure() {
  const probe = el("div", "probe");
  probe.setAttribute("aria-hidden", "true");
  const closed = el("div", "card"), open = el("div", "card open"), min = el("div", "minw");
  probe.append(closed, open, min);
  grid.appendChild(probe);
  const style = getComputedStyle(grid);
  layout.gap = parseFloat(style.columnGap) || parseFloat(style.rowGap) || 10;
  layout.closedHeight = closed.getBoundingClientRect().height || 96;
  layout.openHeight = open.getBoundingClientRect().height || 320;
  layout.minWidth = min.getBoundingClientRect().width || 280;
  grid.removeChild(probe);
  layout.width = grid.clientWidth;
  layout.cols = Math.max(1, Math.floor((layout.width + layout.gap) / (layout.minWidth + layout.gap)));
  layout.cardWidth = Math.floor((layout.width - layout.gap * (layout.cols - 1)) / layout.cols);
}

/* a row is as tall as an open card when any of its cards is open */
function layoutRows() {
  const n = view.length, cols = layout.cols, rows = Math.ceil(n / cols);
  const openRow = new Uint8Array(rows);
  const exceptions = prefs.exceptions;
  if (exceptions.size === 0) {
    if (prefs.allOpen) openRow.fill(1);
  } else {
    const position = new Int32Array(model.count).fill(-1);
    for (let p = 0; p < n; p++) position[view[p]] = p;
    const index = rowByKey();
    const closedInRow = new Uint16Array(rows);
    for (const key of exceptions) {
      const i = index.get(key);
      if (i === undefined || position[i] < 0) continue;
      const r = (position[i] / cols) | 0;
      if (prefs.allOpen) closedInRow[r]++; else openRow[r] = 1;
    }
    if (prefs.allOpen) {
      for (let r = 0; r < rows; r++) if (closedInRow[r] < Math.min(cols, n - r * cols)) openRow[r] = 1;
    }
  }
  const tops = new Float64Array(rows + 1);
  let y = 0;
  for (let r = 0; r < rows; r++) { tops[r] = y; y += (openRow[r] ? layout.openHeight : layout.closedHeight) + layout.gap; }
  tops[rows] = y;
  layout.tops = tops; layout.rows = rows; layout.total = rows ? y - layout.gap : 0;
  const height = layout.total + "px";
  if (grid.style.height !== height) grid.style.height = height;
}

function rowAt(y) { // the last row whose top is at or above y
  const tops = layout.tops;
  let lo = 0, hi = layout.rows - 1;
  if (hi < 0) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tops[mid] <= y) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// ------------------------------------------------------------------ cards
function makeCard() {
  const card = el("div", "card");
  card.setAttribute("role", "listitem");
  const id = "card-" + (++cardCount);
  // the button's name is its visible text (status, address, family)
  const head = el("button", "card-head");
  head.type = "button";
  head.setAttribute("aria-expanded", "false");
  const badge = el("span", "badge"), icon = el("span", "ico"), statusText = el("span", "st-text");
  icon.setAttribute("aria-hidden", "true");
  badge.append(icon, statusText);
  const address = el("bdi", "addr mono"), family = el("span", "fam"); // the chevron is CSS (::after)
  head.append(badge, address, family);
  const name = el("bdi", "name");
  name.id = id + "-n";
  head.setAttribute("aria-describedby", name.id);
  const stats = el("div", "stats");
  const packets = el("span", "s-pk"), drops = el("span", "s-dr"), lastSeen = el("span", "s-last"), rate = el("span", "s-rate");
  stats.append(packets, drops, lastSeen, rate);
  card.append(head, name, stats);
  card.parts = { id, head, icon, statusText, address, family, name, packets, drops, lastSeen, rate, details: null };
  card.key = null; card.signature = null; card.x = -1; card.y = -1; card.width = -1;
  return card;
}

function fillCard(card, i, open) {
  const signature = rowSignature(i, open);
  if (card.signature === signature) return; // keyed: an unchanged card is not touched
  card.signature = signature;
  const parts = card.parts, c = model.columns, status = model.status[i], host = model.hostname[i];
  const className = "card st-" + STATUSES[status] + (open ? " open" : "") + (host === null ? " noname" : "") +
    (card.key === target ? " target" : "");
  if (card.className !== className) card.className = className;
  setText(parts.icon, STATUS_ICON[status]);
  setText(parts.statusText, STATUS_WORD[STATUSES[status]]);
  setText(parts.address, model.address[i]);
  setText(parts.family, model.family[i] === 6 ? "IPv6" : model.family[i] === 4 ? "IPv4" : "");
  setText(parts.name, host === null ? "no hostname" : host);
  if (host === null) parts.name.removeAttribute("title"); else setAttr(parts.name, "title", host);
  setText(parts.packets, "NTP " + formatInt(c.ntpPackets[i]));
  setText(parts.drops, "drop " + formatInt(c.ntpDrops[i]));
  setText(parts.lastSeen, c.lastSeen[i] !== c.lastSeen[i] ? "never seen" : "seen " + formatAgo(c.lastSeen[i]));
  setText(parts.rate, c.ntpRate[i] !== c.ntpRate[i] ? "" : formatRate(c.ntpRate[i]).replace("/s", " req/s"));
  setAttr(parts.head, "aria-expanded", open ? "true" : "false");
  if (open) {
    const nts = model.ntsState[i] >= 0;
    if (parts.details && parts.details.nts !== nts) { parts.details.root.remove(); parts.details = null; }
    if (!parts.details) { parts.details = makeDetails(parts.id, nts); card.appendChild(parts.details.root); }
    setAttr(parts.head, "aria-controls", parts.details.root.id);
    fillDetails(parts.details, i);
  } else if (parts.details) {
    parts.details.root.remove();
    parts.details = null;
    parts.head.removeAttribute("aria-controls");
  }
}

// [label, NTP column, command column, NTS-KE column, format]
const DETAIL_ROWS = [["Packets", "ntpPackets", "cmdPackets", "ntsConnections", formatInt],
  ["Drops", "ntpDrops", "cmdDrops", "ntsDrops", formatInt],
  ["Interval", "ntpInterval", "cmdInterval", "ntsInterval", formatDuration],
  ["Interval (limited)", "ntpIntervalLimited", null, null, formatDuration],
  ["Last seen", "ntpLastSeen", "cmdLastSeen", "ntsLastSeen", formatAgo]];

function makeDetails(cardId, nts) {
  const root = el("div", "det");
  root.id = cardId + "-d";
  const fullName = el("div", "fullname"), value = el("bdi", "v");
  const warning = el("span", "hidden-chars", "⚠ contains invisible or direction-changing characters");
  fullName.append(el("span", "k", "Hostname"), warning, value);
  const table = el("table", "dt"), body = el("tbody");
  const header = el("tr");
  const columns = ["NTP", "Command"].concat(nts ? ["NTS-KE"] : []);
  header.append(el("td"), ...columns.map((label) => { const th = el("th", null, label); th.scope = "col"; return th; }));
  body.append(header);
  const cells = DETAIL_ROWS.map(([label]) => {
    const tr = el("tr"), th = el("th", null, label);
    th.scope = "row";
    const row = columns.map(() => el("td"));
    tr.append(th, ...row);
    body.append(tr);
    return row;
  });
  table.append(body);
  const rate = el("p", "rate");
  root.append(fullName, table, rate);
  return { root, fullName, name: value, warning, cells, rate, nts };
}

function fillDetails(details, i) {
  const c = model.columns, host = model.hostname[i], nts = model.ntsState[i];
  const flagged = host !== null && HIDDEN_CHARS.test(host);
  setText(details.name, host === null ? "none known" : host);
  setHidden(details.warning, !flagged);
  // a long name (or one with the warning) scrolls in its box: keyboard users must reach it too
  if (flagged || (host !== null && host.length > LONG_NAME)) setAttr(details.fullName, "tabindex", "0");
  else details.fullName.removeAttribute("tabindex");
  DETAIL_ROWS.forEach(([, ntp, cmd, ntsColumn, format], j) => {
    const cells = details.cells[j];
    setText(cells[0], format(c[ntp][i]));
    setText(cells[1], cmd ? format(c[cmd][i]) : "–");
    if (details.nts) setText(cells[2], nts === 0 ? (j === 0 ? "none" : "–") : ntsColumn ? format(c[ntsColumn][i]) : "–");
  });
  const packets = c.ntpPackets[i], drops = c.ntpDrops[i];
  setText(details.rate, "Request rate " + formatRate(c.ntpRate[i]) + " · drop rate " + formatRate(c.dropRate[i]) +
    (packets > 0 ? " · " + (+(100 * drops / packets).toPrecision(3)) + " % of NTP requests dropped" : ""));
}

/* puts the cards of the rows in view (plus OVERSCAN_PX) into the DOM, in
   display order (tab order = reading order) */
function renderWindow() {
  const n = view.length;
  const top = -grid.getBoundingClientRect().top;
  const y0 = top - OVERSCAN_PX, y1 = top + (innerHeight || document.documentElement.clientHeight) + OVERSCAN_PX;
  const wanted = [];
  if (n && y1 >= 0 && y0 <= layout.total) {
    for (let r = rowAt(Math.max(0, y0)); r < layout.rows && layout.tops[r] <= y1; r++) {
      for (let p = r * layout.cols; p < Math.min(n, (r + 1) * layout.cols); p++) wanted.push(p);
    }
  }
  const keep = new Set(wanted.map((p) => model.cardKey[view[p]]));
  for (const [key, card] of cards) {
    if (!keep.has(key)) { cards.delete(key); card.remove(); card.key = null; pool.push(card); }
  }
  let previous = null;
  for (const p of wanted) {
    const i = view[p], key = model.cardKey[i];
    let card = cards.get(key);
    if (!card) {
      card = pool.pop() || makeCard();
      card.key = key; card.signature = null;
      cards.set(key, card);
    }
    fillCard(card, i, isOpen(key));
    const x = (p % layout.cols) * (layout.cardWidth + layout.gap), y = layout.tops[(p / layout.cols) | 0];
    if (card.x !== x || card.y !== y) {
      card.style.transform = `translate(${x}px,${y}px)`;
      card.x = x; card.y = y;
    }
    if (card.width !== layout.cardWidth) { card.style.width = layout.cardWidth + "px"; card.width = layout.cardWidth; }
    const expected = previous ? previous.nextSibling : grid.firstChild;
    if (card !== expected) grid.insertBefore(card, expected);
    previous = card;
  }
  if (pool.length > POOL_MAX) pool.length = POOL_MAX;
}

let frameRequest = 0;
function renderWindowSoon() {
  if (!frameRequest) frameRequest = requestAnimationFrame(() => { frameRequest = 0; renderWindow(); });
}

function relayout() { layoutRows(); renderWindow(); }

// ------------------------------------------------------------------ the client list section
const countText = byId("count"), emptyNote = byId("empty"), searchHint = byId("q-hint");

/* after new data, a new sort, search or filter: recompute the view and
   redraw (measure: card sizes may have changed) */
export function showClients(measureCards) {
  if (!hasData()) return;
  computeView();
  if (grid.classList.contains("nts") !== model.hasNts) { grid.classList.toggle("nts", model.hasNts); measureCards = true; }
  if (measureCards) measure();
  relayout();
  const n = view.length, total = model.count;
  setText(countText, n === total ? formatInt(total) + (total === 1 ? " client" : " clients")
    : "Showing " + formatInt(n) + " of " + formatInt(total) + " clients");
  const cidr = query.cidr;
  const hint = !cidr ? "" : cidr.bad ? "Not a valid network: use a CIDR like 10.1.0.0/16 or 2001:db8::/32."
    : "Clients in network " + cidr.text + " (IPv" + cidr.family + ").";
  setText(searchHint, hint);
  setHidden(searchHint, !hint);
  const empty = total === 0 ? (listUnknown ? "The client list is unknown: chronyd did not answer." : "No clients in chronyd's client log yet.")
    : n === 0 ? "No client matches the search or filter." : "";
  setText(emptyNote, empty);
  setHidden(emptyNote, !empty);
}

/* the search box: timed per keystroke for the bench */
export function searchTyped(event, text) {
  showClients(false);
  afterPaint((t) => record(hooks.search, { q: text, ms: t - event.timeStamp, shown: view.length }));
}

/* Jumps to row i's card (the top talkers and droppers): opens it, scrolls
   its row to the middle of the window, draws it there (the grid draws only
   the cards in view) and focuses it. Returns false when the view hides the
   row: the caller clears the filters first. */
export function revealCard(i) {
  const p = view.indexOf(i);
  if (p < 0) return false;
  const key = model.cardKey[i];
  if (!isOpen(key)) {
    if (!prefs.exceptions.delete(key)) prefs.exceptions.add(key);
    savePrefsSoon();
  }
  target = key;
  layoutRows();
  const r = (p / layout.cols) | 0, rowHeight = layout.tops[r + 1] - layout.tops[r] - layout.gap;
  const viewport = innerHeight || document.documentElement.clientHeight;
  scrollTo({ top: scrollY + grid.getBoundingClientRect().top + layout.tops[r] - Math.max(0, (viewport - rowHeight) / 2),
             behavior: "instant" });
  renderWindow();
  for (const card of cards.values()) card.classList.toggle("target", card.key === target);
  cards.get(key).parts.head.focus({ preventScroll: true });
  return true;
}

export function setAllOpen(open) {
  prefs.allOpen = open;
  prefs.exceptions.clear();
  savePrefsSoon();
  relayout();
}

grid.addEventListener("click", (event) => {
  const card = event.target.closest(".card-head")?.parentNode;
  if (!card || !card.key) return;
  if (!prefs.exceptions.delete(card.key)) prefs.exceptions.add(card.key);
  savePrefsSoon();
  relayout();
});

grid.addEventListener("keydown", (event) => { // arrow keys move between cards
  const card = event.target.closest?.(".card-head")?.parentNode;
  if (!card) return;
  const next = event.key === "ArrowRight" || event.key === "ArrowDown" ? card.nextElementSibling
    : event.key === "ArrowLeft" || event.key === "ArrowUp" ? card.previousElementSibling : null;
  if (next && next.parts) { event.preventDefault(); next.parts.head.focus(); }
});

addEventListener("scroll", renderWindowSoon, { passive: true });

function resized() {
  if (!hasData()) return;
  if (grid.clientWidth !== layout.width) { measure(); layoutRows(); }
  renderWindow();
}
new ResizeObserver(resized).observe(grid);
addEventListener("resize", resized);
