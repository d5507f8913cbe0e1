/* chrony-snap dashboard: the entry module. What happens on each poll:
 *
 *   poll.js      fetch live.json, and the client list when it changed (worker.js:
 *                parse + columnar model, off the main thread)
 *   app.js       check the snapshot, then hand its parts to their panels:
 *   clients.js   adopt the client model; sort + filter it into the view
 *   grid.js      draw the cards in view (windowed, keyed)
 *   verdict.js   the health verdict at the top
 *   analytics.js the client population (numbers from the worker: model.js analyse())
 *   health.js    summary, synchronisation, sources, statistics, errors
 *   freshness.js how old the data is; the stale banner
 *   trends.js    the Trends charts: extended by this snapshot's history row
 *
 * Every value from data.json enters the DOM through textContent or
 * attributes, never as markup.
 */
import { renderAnalytics, startAnalytics } from "./analytics.js";
import { adoptModel, hasData, listUnknown, model, setListUnknown } from "./clients.js";
import { startControls } from "./controls.js";
import { afterPaint, byId, root, setHidden, setText } from "./dom.js";
import { formatClock, formatDuration } from "./format.js";
import { noteClients, noteFailure, noteSnapshot, snapshotTime, updateFreshness } from "./freshness.js";
import { showClients } from "./grid.js";
import { renderAbout, renderErrors, renderStats, renderSources, renderSummary, renderSync } from "./health.js";
import { hooks, mark, record } from "./hooks.js";
import { fetchTimeoutMs, setRefreshSeconds, startPolling } from "./poll.js";
import { loadPrefs } from "./prefs.js";
import { updateTrends } from "./trends.js";
import { renderVerdict } from "./verdict.js";

const SCHEMA_VERSION = 1;
let clientsAsOf = 0; // the snapshot time of the client list shown

function clientReportFailed(errors) {
  return errors.some((e) => e && typeof e.report === "string" && e.report.startsWith("clients"));
}

/* Shows a snapshot. Returns whether anything was redrawn (false: the same
   seq again). Throws for a snapshot this page cannot show; the last good
   one then stays. */
function applySnapshot(message) {
  const snapshot = message.meta;
  if (snapshot.schema_version !== SCHEMA_VERSION) {
    throw new Error("data.json schema_version " + snapshot.schema_version + " is not supported by this page; reload it");
  }
  const first = !hasData();
  const changed = noteSnapshot(snapshot, message.date);
  noteClients(snapshot);
  setRefreshSeconds(snapshot.refresh_s);
  if (message.same || (!changed && !first)) return false;
  const errors = Array.isArray(snapshot.errors) ? snapshot.errors : [];
  // clientsSame: the list did not change (no model came): the page keeps its own
  const noClientList = !message.clientsSame && clientReportFailed(errors) && message.count === 0;
  const wasUnknown = listUnknown;
  // chronyd did not answer for the client list: keep the last known cards, marked stale
  if (noClientList && model.count > 0) setListUnknown(true);
  else {
    setListUnknown(noClientList);
    if (!message.clientsSame) {
      adoptModel(message);
      const collected = Date.parse(snapshot.clients_collected_at || "");
      clientsAsOf = isFinite(collected) ? collected : snapshotTime();
    }
    renderSummary(snapshot.summary);
    const tAnalytics = performance.now();
    renderAnalytics(message.analytics, snapshot);
    message.analyticsMain = performance.now() - tAnalytics;
  }
  const oldCards = listUnknown && model.count > 0;
  root.classList.toggle("clients-stale", oldCards);
  const note = byId("clients-stale-note");
  if (oldCards) setText(note, "Client list from " + formatClock(clientsAsOf) + ": chronyd did not answer since; these cards are not current.");
  setHidden(note, !oldCards);
  renderVerdict(snapshot.health);
  renderSync(snapshot.tracking, snapshotTime());
  renderSources(snapshot.sources, snapshot.sourcestats);
  renderStats(snapshot.serverstats, snapshot.serverstats_rate, snapshot.activity);
  renderAbout(snapshot);
  renderErrors(snapshot);
  updateTrends(snapshot.history);
  if ((!listUnknown && !message.clientsSame) || wasUnknown !== listUnknown || first) showClients(first);
  root.setAttribute("data-seq", String(snapshot.seq));
  return true;
}

function failureText(e) {
  return e.kind === "timeout" ? "no answer within " + formatDuration(fetchTimeoutMs / 1000)
    : e.kind === "json" ? "data.json is not valid JSON"
    : e.kind === "network" ? "the web server is unreachable"
    : (e && e.message) || String(e);
}

function onPoll(message) {
  const received = performance.now();
  mark("cs:refresh-start");
  try {
    if (!message.ok) throw message;
    if (applySnapshot(message)) {
      const applied = performance.now(), seq = message.meta.seq, t = message.timings;
      afterPaint((painted) => {
        mark("cs:refresh-painted");
        record(hooks.perf, { seq, worker: message.worker, fetch: t.fetch, parse: t.parse, build: t.build, analytics: t.analytics, analyticsMain: message.analyticsMain,
                             apply: applied - received, main: painted - received,
                             painted: t.parse + t.build + (painted - received), clients: model.count });
      });
    }
  } catch (e) {
    hooks.errors++;
    noteFailure(failureText(e));
  }
  updateFreshness();
}

loadPrefs();
startControls();
startAnalytics(() => showClients(false));
setInterval(updateFreshness, 1000);
startPolling(onPoll);
