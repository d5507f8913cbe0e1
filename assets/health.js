/* The summary bar and the server health panels (synchronisation, sources,
 * server statistics) and the banner for chronyd's errors, from a snapshot's
 * data.json (without its client list). Each panel redraws only what changed.
 */
import { byId, el, root, setAttr, setHidden, setText } from "./dom.js";
import { formatAgo, formatDateTime, formatDuration, formatInt, formatPpm, formatRate, formatSeconds } from "./format.js";
import { numberOrNaN } from "./model.js";

const SUMMARY = [["sum-clients", "clients", formatInt], ["sum-ok", "ok", formatInt],
  ["sum-warning", "warning", formatInt], ["sum-critical", "critical", formatInt],
  ["sum-ipv4", "ipv4", formatInt], ["sum-ipv6", "ipv6", formatInt], ["sum-active", "active_60s", formatInt],
  ["sum-ntp", "ntp_packets", formatInt], ["sum-drops", "ntp_drops", formatInt], ["sum-cmd", "cmd_packets", formatInt],
  ["sum-pps", "ntp_pps", formatRate], ["sum-dps", "drop_pps", formatRate]];

export function renderSummary(summary) {
  summary = summary || {};
  for (const [id, key, format] of SUMMARY) setText(byId(id), format(numberOrNaN(summary[key])));
}

// ------------------------------------------------------------------ synchronisation
const SYNC_FIELDS = [["ref", "Reference"], ["stratum", "Stratum"], ["systime", "System time"],
  ["lastoff", "Last offset"], ["rms", "RMS offset"], ["freq", "Frequency"], ["resid", "Residual freq."],
  ["skew", "Skew"], ["rdelay", "Root delay"], ["rdisp", "Root dispersion"], ["upd", "Update interval"],
  ["leap", "Leap status"], ["reftime", "Ref. time"]];
const LOCAL_CLOCK_ID = "7F7F0101"; // chronyd's reference ID when it serves its own clock
let syncValues = null; // field -> <dd>, made on first use

/* tracking: data.json's tracking report (or null); generatedMs: the snapshot's time */
export function renderSync(tracking, generatedMs) {
  const box = byId("sync-state"), icon = box.firstElementChild, text = box.lastElementChild;
  if (!syncValues) {
    syncValues = {};
    for (const [key, label] of SYNC_FIELDS) {
      const dd = el("dd"), row = el("div");
      row.append(el("dt", null, label), dd);
      byId("sync-kv").append(row);
      syncValues[key] = dd;
    }
  }
  const t = tracking, v = {};
  let state;
  if (!t || typeof t !== "object") {
    state = "unknown"; setText(icon, "?"); setText(text, "Unknown: the tracking report is unavailable");
  } else {
    const local = t.reference_id === LOCAL_CLOCK_ID;
    const ref = t.reference_name || t.reference_address || "";
    if (t.leap_status === "Not synchronised") {
      state = "bad"; setText(icon, "✕"); setText(text, "Not synchronised");
    } else {
      state = "good"; setText(icon, "✓");
      setText(text, local ? "Serving its local clock (local stratum " + t.stratum + ")"
        : "Synchronised to " + (ref || t.reference_id) + ", stratum " + t.stratum);
    }
    v.ref = t.reference_id + (ref ? " (" + ref + ")" : local ? " (local clock)" : "");
    v.stratum = String(t.stratum);
    const systemTime = numberOrNaN(t.system_time_s); // negative: the system clock is fast
    v.systime = systemTime === 0 ? "0 s (on time)"
      : formatSeconds(Math.abs(systemTime)) + (systemTime < 0 ? " fast of NTP time" : " slow of NTP time");
    v.lastoff = formatSeconds(numberOrNaN(t.last_offset_s), true);
    v.rms = formatSeconds(numberOrNaN(t.rms_offset_s));
    const frequency = numberOrNaN(t.frequency_ppm); // negative: slow
    v.freq = frequency === 0 ? "0 ppm" : formatPpm(Math.abs(frequency)) + (frequency < 0 ? " slow" : " fast");
    v.resid = formatPpm(numberOrNaN(t.residual_freq_ppm));
    v.skew = formatPpm(numberOrNaN(t.skew_ppm));
    v.rdelay = formatSeconds(numberOrNaN(t.root_delay_s));
    v.rdisp = formatSeconds(numberOrNaN(t.root_dispersion_s));
    v.upd = formatDuration(numberOrNaN(t.update_interval_s));
    v.leap = String(t.leap_status);
    const refTime = numberOrNaN(t.ref_time);
    v.reftime = refTime > 0 ? formatDateTime(refTime * 1000) +
      (generatedMs ? " (" + formatAgo(Math.max(0, generatedMs / 1000 - refTime)) + ")" : "") : "never";
  }
  setAttr(box, "class", "sync-state " + state);
  for (const key in syncValues) setText(syncValues[key], v[key] == null ? "–" : v[key]);
}

// ------------------------------------------------------------------ sources
// state -> [chronyc's symbol, in words, what it means]
const SOURCE_STATE = {
  selected: ["*", "selected", "the source chronyd synchronises to"],
  combined: ["+", "combined", "good: averaged in with the selected source"],
  not_combined: ["-", "not combined", "acceptable, but left out of the average (further off than the others)"],
  unusable: ["?", "unusable", "no usable samples: unreachable, or not yet polled enough"],
  falseticker: ["x", "falseticker", "disagrees with the other sources: its time is taken to be wrong"],
  too_variable: ["~", "too variable", "its measurements jitter too much to be trusted"],
};
const SOURCE_MODE = { server: "server", peer: "peer", refclock: "ref. clock" };
let sourcesShown = null; // the sources and their statistics last drawn, as JSON

/* the reach register: the last 8 polls as dots (oldest left, newest right)
   and in words, plus the octal value chronyc prints */
function reachCell(reach) {
  const td = el("td", "reach");
  if (reach !== reach) {
    td.textContent = "–";
    return td;
  }
  const dots = el("span", "dots");
  dots.setAttribute("aria-hidden", "true");
  let answered = 0;
  for (let bit = 7; bit >= 0; bit--) {
    const on = (reach >> bit) & 1;
    answered += on;
    dots.append(el("span", on ? "dot on" : "dot"));
  }
  td.append(dots, el("span", "reach-text", answered + "/8 of the last polls"),
            el("span", "mono muted", " (" + reach.toString(8) + ")"));
  return td;
}

function statsCells(st) {
  st = st || {};
  const n = (v) => numberOrNaN(v);
  return [el("td", "num", formatInt(n(st.samples))), el("td", "num", formatDuration(n(st.span_s))),
          el("td", "num", formatPpm(n(st.frequency_ppm))), el("td", "num", formatPpm(n(st.freq_skew_ppm))),
          el("td", "num", formatSeconds(n(st.std_dev_s)))];
}

function sourceRow(s, stats) {
  const [symbol, label] = SOURCE_STATE[s.state] || ["?", String(s.state)];
  const tr = el("tr", "src-" + (SOURCE_STATE[s.state] ? s.state : "unknown"));
  const state = el("td", "src-state"), mark = el("span", "mono sym", symbol);
  mark.setAttribute("aria-hidden", "true");
  state.append(mark, document.createTextNode(" " + label));
  const source = el("td");
  source.append(el("bdi", "mono", String(s.address)), el("span", "muted small", " " + (SOURCE_MODE[s.mode] || s.mode || "")));
  tr.append(state, source, el("td", "num", String(s.stratum)), el("td", "num", formatDuration(numberOrNaN(s.poll_s))),
            reachCell(numberOrNaN(s.reach)), el("td", "num", formatAgo(numberOrNaN(s.last_rx_s))),
            el("td", "num", formatSeconds(numberOrNaN(s.offset_s), true) + " ± " + formatSeconds(numberOrNaN(s.error_s))),
            ...statsCells(stats));
  return tr;
}

/* sources and sourcestats: data.json's reports (or null); sourcestats are
   merged into each source's row by address */
export function renderSources(sources, sourcestats) {
  const json = JSON.stringify([sources, sourcestats]);
  if (json === sourcesShown) return;
  sourcesShown = json;
  const known = Array.isArray(sources);
  const stats = new Map();
  if (Array.isArray(sourcestats)) for (const st of sourcestats) if (st && typeof st === "object") stats.set(String(st.address), st);
  const list = known ? sources.map((s) => s || {}) : [];
  byId("sources-body").replaceChildren(...list.map((s) => sourceRow(s, stats.get(String(s.address)))));
  const note = !known ? "Unknown: the sources report is unavailable." :
    list.length === 0 ? "No time sources configured (serving the local clock only)." : "";
  setText(byId("sources-note"), note);
  setHidden(byId("sources-note"), !note);
  setHidden(byId("sources-table"), !list.length);
  // what the states in the table mean, once each
  const states = [...new Set(list.map((s) => s.state).filter((st) => Object.hasOwn(SOURCE_STATE, st)))];
  byId("sources-legend").replaceChildren(...states.map((st) => {
    const row = el("div");
    row.append(el("dt", null, SOURCE_STATE[st][1]), el("dd", null, SOURCE_STATE[st][2]));
    return row;
  }));
  setHidden(byId("sources-legend"), !states.length);
}

// ------------------------------------------------------------------ server statistics
const COUNTER_LABEL = {
  ntp_packets_received: "NTP packets received", ntp_packets_dropped: "NTP packets dropped",
  cmd_packets_received: "Command packets received", cmd_packets_dropped: "Command packets dropped",
  client_log_records_dropped: "Client log records dropped",
  nts_ke_connections_accepted: "NTS-KE connections accepted", nts_ke_connections_dropped: "NTS-KE connections dropped",
  authenticated_ntp_packets: "Authenticated NTP packets", interleaved_ntp_packets: "Interleaved NTP packets",
  ntp_timestamps_held: "NTP timestamps held", ntp_timestamp_span_s: "NTP timestamp span",
  ntp_daemon_rx_timestamps: "Daemon RX timestamps", ntp_daemon_tx_timestamps: "Daemon TX timestamps",
  ntp_kernel_rx_timestamps: "Kernel RX timestamps", ntp_kernel_tx_timestamps: "Kernel TX timestamps",
  ntp_hardware_rx_timestamps: "Hardware RX timestamps", ntp_hardware_tx_timestamps: "Hardware TX timestamps",
};
// gauges, not counters: no per-second rate
const NOT_RATES = new Set(["ntp_timestamps_held", "ntp_timestamp_span_s"]);
let counterCells = {}, countersShown = null; // counter -> [total, rate] cells; the counter names drawn

export function renderStats(serverstats, rates, activity) {
  const keys = serverstats && typeof serverstats === "object" ? Object.keys(serverstats) : [];
  if (keys.join(",") !== countersShown) {
    countersShown = keys.join(",");
    counterCells = {};
    byId("stats-body").replaceChildren(...keys.map((key) => {
      const tr = el("tr"), th = el("th", null, COUNTER_LABEL[key] || key), total = el("td"), rate = el("td");
      th.scope = "row";
      tr.append(th, total, rate);
      counterCells[key] = [total, rate];
      return tr;
    }));
  }
  for (const key of keys) {
    const value = numberOrNaN(serverstats[key]), [total, rate] = counterCells[key];
    setText(total, key === "ntp_timestamp_span_s" ? formatDuration(value) : formatInt(value));
    setText(rate, rates && typeof rates[key] === "number" ? formatRate(rates[key]) : NOT_RATES.has(key) ? "" : "–");
  }
  setHidden(byId("stats-table"), !keys.length);
  const dropped = keys.length ? numberOrNaN(serverstats.client_log_records_dropped) : NaN;
  const saturation = byId("saturation");
  if (dropped > 0) {
    setText(saturation, "⚠ Client log saturated: " + formatInt(dropped) + " client records dropped. " +
      "The client list and counts are incomplete; raise clientloglimit in chrony.conf.");
  }
  setHidden(saturation, !(dropped > 0));
  let text = keys.length ? "" : "Unknown: the serverstats report is unavailable. ";
  if (activity && typeof activity === "object") {
    const a = activity;
    text += "Sources online " + a.online + ", offline " + a.offline +
      (a.burst_online || a.burst_offline ? ", in burst " + (a.burst_online + a.burst_offline) : "") +
      (a.unresolved ? ", unresolved " + a.unresolved : "") + ".";
  }
  setText(byId("activity"), text);
}

/* the footer line of the statistics panel: chronyc, timing, status rule */
export function renderAbout(snapshot) {
  const chrony = snapshot.chrony || {}, rule = snapshot.status_rule || {};
  const parts = ["chronyc " + (chrony.version || "?") + (chrony.socket ? " via " + chrony.socket : "")];
  if (typeof snapshot.duration_ms === "number") parts.push("snapshot took " + snapshot.duration_ms + " ms");
  if (rule.preset) {
    parts.push("status rule (" + rule.preset + "): warning at ≥ " + rule.warning_drops + " NTP drop" +
      (rule.warning_drops === 1 ? "" : "s") + ", critical at ≥ " + rule.critical_drops + " drops" +
      (rule.critical_drop_ratio > 0 ? " and ≥ " + (+(rule.critical_drop_ratio * 100).toPrecision(3)) + " % of packets" : ""));
  }
  setText(byId("about"), parts.join(" · "));
}

// ------------------------------------------------------------------ chronyd's errors
let errorsShown = null;

function errorItem(group) {
  const e = group.error, li = el("li");
  li.append(el("strong", "rep", group.reports.join(", ") + ": "), el("span", "msg", String(e.message)));
  if (e.code) li.append(el("code", "code", String(e.code)));
  if (e.hint) {
    const hint = el("div", "hint");
    hint.append(el("span", "hl", "Hint: "), el("span", null, String(e.hint)));
    li.append(hint);
  }
  return li;
}

export function renderErrors(snapshot) {
  const errors = Array.isArray(snapshot.errors) ? snapshot.errors : [];
  const unreachable = !!snapshot.chrony && snapshot.chrony.reachable === false;
  const json = JSON.stringify([errors, unreachable]);
  if (json === errorsShown) return;
  errorsShown = json;
  // identical problems are one item (a dead socket fails every report the same way)
  const groups = new Map();
  for (const raw of errors) {
    const e = raw || {};
    const key = [e.message, e.hint, e.code].map(String).join("\u0000");
    if (!groups.has(key)) groups.set(key, { reports: [], error: e });
    groups.get(key).reports.push(String(e.report));
  }
  byId("error-list").replaceChildren(...Array.from(groups.values(), errorItem));
  setText(byId("error-title"), unreachable ? "chronyd is unreachable"
    : errors.length === 1 ? "chronyd reported a problem" : "chronyd reported problems");
  setHidden(byId("error-banner"), !(errors.length || unreachable));
  root.classList.toggle("chrony-down", unreachable);
}
