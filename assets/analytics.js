/* The client-population section: histograms, NTP vs NTS-KE, top talkers
 * and droppers, networks, new clients and the client log's capacity. The
 * numbers come from the worker (model.js analyse()); this module only draws
 * them, as text, and wires the clicks to the client list: a network puts
 * its CIDR into the search box, a client jumps to its card, "new in the
 * last hour" filters the list.
 */
import { model, newSince, rowByKey, setNewSince } from "./clients.js";
import { clearFilters } from "./controls.js";
import { byId, el, setAttr, setHidden, setText } from "./dom.js";
import { revealCard } from "./grid.js";
import { STATUS_WORD, formatDuration, formatInt, formatRate } from "./format.js";
import { NEW_WINDOW_S, STATUSES } from "./model.js";
import { prefs } from "./prefs.js";
import { analyticsOptions } from "./settings.js";

let newOnly = false, lastNow = 0;

function bucketLabels(bounds, format) {
  const labels = bounds.map((b) => "≤ " + format(b));
  labels.push("> " + format(bounds[bounds.length - 1]));
  return labels;
}

function drawHistogram(id, counts, labels) {
  const body = byId(id).tBodies[0];
  const max = Math.max(1, ...counts);
  if (body.rows.length !== counts.length) {
    body.replaceChildren();
    for (const label of labels) {
      const tr = el("tr");
      tr.append(el("th", null, label), el("td"), el("td", "bar"));
      tr.lastChild.append(el("span", "fill"));
      tr.cells[0].setAttribute("scope", "row");
      body.append(tr);
    }
  }
  counts.forEach((n, j) => {
    const tr = body.rows[j];
    setText(tr.cells[1], formatInt(n));
    setAttr(tr, "data-count", String(n));
    tr.classList.toggle("zero", n === 0);
    tr.cells[2].firstChild.style.width = (100 * n / max).toFixed(1) + "%"; // CSSOM: allowed by the CSP
  });
}

/* a client's name as the card shows it: the address, the hostname after it */
function clientButton(row, valueText) {
  const li = el("li");
  const b = el("button", "linkish", row.hostname ? row.address + " (" + row.hostname + ")" : row.address);
  b.type = "button";
  b.setAttribute("data-key", row.key);
  li.append(b, el("span", "v", valueText));
  return li;
}

function drawTop(id, rows, format) {
  const list = byId(id);
  list.replaceChildren(...rows.map((r) => clientButton(r, format(r.value))));
  if (!rows.length) list.append(el("li", "muted", "none"));
}

function drawNetworks(a) {
  const body = byId("networks-body");
  body.replaceChildren(...a.networks.map((g) => {
    const tr = el("tr");
    const b = el("button", "linkish", g.cidr);
    b.type = "button";
    b.setAttribute("data-cidr", g.cidr);
    const th = el("th");
    th.setAttribute("scope", "row");
    th.append(b);
    tr.append(th, el("td", "num", formatInt(g.count)), el("td", "num", formatInt(g.packets)),
      el("td", "num", formatInt(g.drops)), el("td", "w-" + g.worst, STATUS_WORD[g.worst]));
    return tr;
  }));
  const o = analyticsOptions;
  setText(byId("networks-note"), formatInt(a.networkCount) + (a.networkCount === 1 ? " network" : " networks") +
    " (IPv4 /" + o.ipv4Prefix + ", IPv6 /" + o.ipv6Prefix + ")" +
    (a.networkCount > a.networks.length ? "; the " + a.networks.length + " largest shown" : ""));
}

function drawLog(log) {
  const line = byId("log-capacity"), full = byId("log-full");
  if (!log || typeof log.records !== "number") { setText(line, ""); setHidden(full, true); return; }
  setText(line, "chronyd's client log: " + formatInt(log.records) + " of " +
    (typeof log.capacity === "number" ? formatInt(log.capacity) + " records" +
      (log.source === "config" ? " (capacity from the config)" : " (capacity from clientloglimit in chrony.conf)")
      : "an unknown number of records (chrony.conf not readable: set chrony.client_log_capacity)") +
    (Array.isArray(log.notes) && log.notes.length ? ". Not read: " + log.notes.join("; ") : ""));
  setText(full, "⚠ The client log is full: chronyd forgets clients to make room for new ones, so this list is " +
    "incomplete. Raise clientloglimit in chrony.conf.");
  setHidden(full, log.full !== true);
}

/* the one line shown while the section is closed */
function drawBrief(a, log) {
  const parts = [formatInt(a.networkCount) + (a.networkCount === 1 ? " network" : " networks")];
  if (a.hasFirstSeen) parts.push(formatInt(a.newCount) + " new in the last hour");
  if (log && typeof log.capacity === "number") parts.push(formatInt(log.records) + " of " + formatInt(log.capacity) + " log records");
  setText(byId("pop-brief"), "(" + parts.join(" · ") + ")");
}

function drawNew(a) {
  setText(byId("new-count"), a.hasFirstSeen
    ? formatInt(a.newCount) + (a.newCount === 1 ? " client" : " clients") + " first seen in the last hour"
    : "Unknown: this server keeps no first-seen times (no state directory).");
  const button = byId("new-filter");
  button.disabled = !a.hasFirstSeen && !newOnly;
  setAttr(button, "aria-pressed", newOnly ? "true" : "false");
}

/* analytics: model.js analyse()'s result (absent: this snapshot is unchanged) */
export function renderAnalytics(analytics, snapshot) {
  drawLog(snapshot.client_log);
  if (!analytics) return;
  const o = analyticsOptions;
  const h = analytics.histograms;
  drawHistogram("hist-last", h.last, bucketLabels(o.timeBuckets, formatDuration));
  drawHistogram("hist-interval", h.interval, bucketLabels(o.timeBuckets, formatDuration));
  drawHistogram("hist-drops", h.drops, bucketLabels(o.dropBuckets, formatInt));
  drawTop("top-talkers", analytics.talkers, formatRate);
  drawTop("top-droppers", analytics.droppers, formatInt);
  const nts = analytics.nts, split = byId("nts-split");
  if (nts) setText(split, "NTS-KE: " + formatInt(nts.nts) + " clients; NTP without NTS-KE: " + formatInt(nts.ntpOnly));
  setHidden(split, !nts);
  drawNetworks(analytics);
  const generated = Date.parse(snapshot.generated_at);
  if (isFinite(generated)) lastNow = generated / 1000; // an unreadable time must not hide every card
  if (newOnly) setNewSince(lastNow - NEW_WINDOW_S); // the hour moves with the data
  drawNew(analytics);
  drawBrief(analytics, snapshot.client_log);
}

function search(text) {
  const box = byId("q");
  box.value = text;
  box.dispatchEvent(new Event("input"));
  byId("clients-h").focus();
  byId("clients-h").scrollIntoView({ block: "start" });
}

function setNewOnly(on) {
  newOnly = on;
  setNewSince(on ? lastNow - NEW_WINDOW_S : null);
  setAttr(byId("new-filter"), "aria-pressed", on ? "true" : "false");
}

/* the exact card, not a search for its address (10.0.0.1 would also match
   10.0.0.10): the filters that hide it are cleared first, the search last */
function jump(key, changed) {
  const i = rowByKey().get(key);
  if (i === undefined) return; // gone from the list since this top list was drawn
  if (newSince !== null && !(model.columns.firstSeen[i] >= newSince)) setNewOnly(false);
  if (prefs.status && STATUSES[model.status[i]] !== prefs.status) clearFilters(false);
  changed();
  if (!revealCard(i)) { clearFilters(true); changed(); revealCard(i); }
}

/* changed(): redraw the client list after the "new" filter changed */
export function startAnalytics(changed) {
  byId("population").addEventListener("click", (event) => {
    const b = event.target.closest("button");
    if (!b) return;
    if (b.id === "new-filter") {
      setNewOnly(!newOnly);
      changed();
    } else if (b.hasAttribute("data-cidr")) search(b.getAttribute("data-cidr"));
    else if (b.hasAttribute("data-key")) jump(b.getAttribute("data-key"), changed);
  });
}
