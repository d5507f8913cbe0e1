/* The events log (history/events.json, written by `chrony-snap build` when
 * something changes: a new reference, a source unreachable, ...): fetched,
 * checked, and listed beside the charts as text. */
import { el, setAttr } from "./dom.js";
import { formatDateTime } from "./format.js";
import { FETCH_TIMEOUT_MS } from "./history-data.js";

const MAX_LISTED = 50;

/* [{t, time, code, message}] oldest first; entries that are not events are skipped */
export async function loadEvents(url) {
  const response = await fetch(url, { cache: "no-store", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!response.ok) throw new Error(url.pathname + ": HTTP " + response.status);
  const doc = await response.json();
  const out = [];
  for (const e of (doc && Array.isArray(doc.events) ? doc.events : [])) {
    if (!e || typeof e.t !== "number" || !isFinite(e.t)) continue;
    out.push({ t: e.t, time: String(e.time || ""), code: String(e.code || ""), message: String(e.message || e.code || "") });
  }
  return out.sort((a, b) => a.t - b.t);
}

export function eventsIn(events, since, until) { return events.filter((e) => e.t >= since && e.t < until); }

/* newest first, at most MAX_LISTED, each "time  message" */
export function renderEvents(list, events) {
  const shown = events.slice(-MAX_LISTED).reverse();
  const items = shown.map((e) => {
    const li = el("li"), time = el("time", "muted", formatDateTime(e.t * 1000));
    if (e.time) setAttr(time, "datetime", e.time);
    li.append(time, " ", el("span", null, e.message));
    setAttr(li, "data-code", e.code);
    return li;
  });
  if (!items.length) items.push(el("li", "muted", "No events in this window."));
  if (events.length > MAX_LISTED) items.push(el("li", "muted", `… and ${events.length - MAX_LISTED} older`));
  list.replaceChildren(...items);
}
