/* How fresh the data shown is: the header's "Live · snapshot 2 s old" and
 * the stale banner, from the snapshot's generated_at, when its seq last
 * changed, and whether the last fetch failed. The last good data stays on
 * the page either way; this only says how old it is.
 */
import { hasData } from "./clients.js";
import { byId, root, setHidden, setText } from "./dom.js";
import { formatClock, formatDuration } from "./format.js";
import { pageSetting } from "./settings.js";

let staleAfterMs = pageSetting("data-stale-after-s", 3) * 1000;
let seq = null;          // the snapshot shown
let changedAt = 0;       // when seq last changed (local clock)
let generatedMs = 0;     // the snapshot's generated_at
let skewMs = 0;          // the server's clock minus ours, when it is off by more than 2 s
let failedSince = 0;     // the first failed fetch in a row
let failure = "";
let hiddenAt = 0;
let clients = null;      // the client list's age and cadence (data.json's clients_* keys), or null

/* Older than its cadence allows (plus two refreshes and a second of slack): late, said and in red. */
const LATE_SLACK_S = 1;

export function snapshotTime() { return generatedMs; }
export function snapshotSeq() { return seq; }

/* a snapshot arrived: returns whether it is a new one (seq changed) */
export function noteSnapshot(meta, dateHeader) {
  const changed = meta.seq !== seq;
  if (changed) { seq = meta.seq; changedAt = Date.now(); }
  const generated = Date.parse(meta.generated_at);
  generatedMs = isFinite(generated) ? generated : 0;
  if (typeof meta.stale_after_s === "number" && meta.stale_after_s > 0) staleAfterMs = meta.stale_after_s * 1000;
  const serverNow = Date.parse(dateHeader || "");
  if (isFinite(serverNow)) {
    const skew = serverNow - Date.now();
    skewMs = Math.abs(skew) > 2000 ? skew : 0;
  }
  failedSince = 0;
  failure = "";
  return changed;
}

/* the snapshot's clients_collected_at and clients_cadence (absent: an
   older chrony-snap that collects the list every tick) */
export function noteClients(meta) {
  const at = Date.parse(meta.clients_collected_at || ""), cadence = meta.clients_cadence;
  clients = isFinite(at) && cadence && typeof cadence.interval_s === "number"
    ? { at, interval: cadence.interval_s, budget: cadence.cpu_budget, reason: cadence.reason,
        refresh: typeof meta.refresh_s === "number" ? meta.refresh_s : 1 }
    : null;
}

function clientsAgeText(now) {
  const ageS = Math.max(0, now + skewMs - clients.at) / 1000;
  const every = clients.interval <= 1 ? "every second" : "every " + formatDuration(clients.interval);
  const why = clients.reason === "idle" ? "nobody was watching"
    : "CPU budget " + Math.round(clients.budget * 1000) / 10 + " %";
  const late = ageS > clients.interval + 2 * clients.refresh + LATE_SLACK_S;
  // "late" in words too: the red is not the only cue
  return { text: "client list: " + formatDuration(ageS) + " old" + (late ? " (late)" : "") + ", refreshed " + every
           + " (" + why + ")", late };
}

export function noteFailure(message) {
  if (!failedSince) failedSince = Date.now();
  failure = message;
}

/* the time the tab was hidden is not "no change observed" */
document.addEventListener("visibilitychange", () => {
  if (document.hidden) hiddenAt = Date.now();
  else {
    if (hiddenAt && changedAt) changedAt += Date.now() - hiddenAt;
    hiddenAt = 0;
  }
});

function unchangedTooLong(now) { return changedAt && now - changedAt > staleAfterMs; }

function isStale(now) {
  if (!hasData()) return false;
  if (failedSince || unchangedTooLong(now)) return true;
  // 1.5 s of tolerance: the Date header used for the skew has 1 s resolution
  return !!generatedMs && now + skewMs - generatedMs > staleAfterMs + 1500;
}

export function updateFreshness() {
  const now = Date.now(), stale = isStale(now), loaded = hasData();
  const ageS = generatedMs ? Math.max(0, now + skewMs - generatedMs) / 1000 : NaN;
  const state = !loaded ? (failedSince ? "error" : "loading") : stale ? "stale" : "live";
  if (root.getAttribute("data-state") !== state) root.setAttribute("data-state", state);
  root.classList.toggle("is-stale", stale);
  const ageEl = byId("clients-age");
  setHidden(ageEl, !loaded || !clients);
  if (loaded && clients) {
    const { text, late } = clientsAgeText(now);
    setText(ageEl, text);
    ageEl.classList.toggle("late", late);
  }
  setText(byId("fresh-text"), !loaded ? (failedSince ? "No data: " + failure : "Loading…")
    : (stale ? "Stale · snapshot " : "Live · snapshot ") + formatDuration(ageS) + " old · #" + seq);
  const banner = byId("stale-banner");
  if (!stale && !(failedSince && !loaded)) { setHidden(banner, true); return; }
  let title, text;
  if (failedSince) {
    title = "Cannot load data.json";
    text = "since " + formatClock(failedSince) + " (" + failure + ")." + (loaded
      ? " Showing the last good snapshot, taken " + formatClock(generatedMs) + " (" + formatDuration(ageS) + " ago)." : "");
  } else {
    title = "Stale data";
    text = "data.json has not changed since " + formatClock(unchangedTooLong(now) ? changedAt : generatedMs) +
      "; the snapshot shown was taken " + formatClock(generatedMs) + " (" + formatDuration(ageS) + " ago). " +
      "Is chrony-snap's timer running?";
  }
  setText(byId("stale-title"), title);
  setText(byId("stale-text"), text);
  setHidden(banner, false);
}
