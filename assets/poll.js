/* Polling: one request at a time, a timeout, paused while the tab is
 * hidden. Each poll reads data.json.d/live.json (data.json without its
 * client list) and the client list only when live.json names a new one
 * (model.js). A module worker (worker.js) fetches, parses and models it;
 * where no worker can start or it fails, the same loader runs on this thread.
 */
import { hooks } from "./hooks.js";
import { FETCHES_PER_LOAD, snapshotLoader } from "./model.js";
import { analyticsOptions, pageSetting } from "./settings.js";

// the delay between polls stays in what setTimeout can wait (2^31 ms), and
// never so short that the page polls in a tight loop
const MIN_REFRESH_MS = 200, MAX_REFRESH_MS = 24 * 3600 * 1000;
const WATCHDOG_EXTRA_MS = 10000; // beyond the fetches' timeouts: a stuck parse
// a worker resolves against its own URL: absolute URLs
const URLS = { live: new URL("data.json.d/live.json", document.baseURI).href,
               whole: new URL("data.json", document.baseURI).href };

let refreshMs = clampRefresh(pageSetting("data-refresh-ms", 1000));
export const fetchTimeoutMs = Math.min(pageSetting("data-fetch-timeout-ms", 5000), MAX_REFRESH_MS);

let onResult = null;     // (message) => void, set by startPolling
let inflight = false, timer = 0, requestId = 0, watchdog = 0, startedAt = 0;
let worker = null, workerFailed = false;
let localLoader = null;  // the fallback's loader, made when first needed

Object.defineProperty(hooks, "scheduled", { get: () => !!timer });
Object.defineProperty(hooks, "inflight", { get: () => inflight });
Object.defineProperty(hooks, "worker", { get: () => !!worker });

function clampRefresh(ms) { return Math.min(MAX_REFRESH_MS, Math.max(MIN_REFRESH_MS, ms)); }

/* data.json's refresh_s wins over the rendered setting (the server's config
   may have changed since the page was rendered) */
export function setRefreshSeconds(seconds) {
  if (typeof seconds === "number" && seconds > 0) refreshMs = clampRefresh(seconds * 1000);
}

function schedule(ms) {
  clearTimeout(timer);
  timer = document.hidden ? 0 : setTimeout(poll, ms); // visibilitychange resumes
}

function startWorker() {
  try {
    worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  } catch (e) {
    workerFailed = true;
    return false;
  }
  worker.onmessage = (event) => finish(event.data);
  worker.onerror = (event) => { // it could not load, or crashed: carry on without it
    event.preventDefault();
    stopWorker();
    workerFailed = true;
    if (inflight) { inflight = false; clearTimeout(watchdog); poll(); }
  };
  return true;
}

function stopWorker() { if (worker) { worker.terminate(); worker = null; } }

function poll() {
  timer = 0;
  if (inflight || document.hidden) return;
  inflight = true;
  hooks.polls++;
  startedAt = performance.now();
  const id = ++requestId;
  if (!workerFailed && (worker || startWorker())) {
    // the worker aborts its own fetch at the timeout; this catches a stuck parse
    watchdog = setTimeout(() => {
      if (id !== requestId || !inflight) return;
      stopWorker(); // its model goes with it: the next worker starts fresh
      finish({ id, ok: false, kind: "timeout" });
    }, FETCHES_PER_LOAD * fetchTimeoutMs + WATCHDOG_EXTRA_MS); // a slow but healthy load is not stopped
    worker.postMessage({ id, urls: URLS, timeoutMs: fetchTimeoutMs, analytics: analyticsOptions });
    return;
  }
  localLoader = localLoader || snapshotLoader();
  localLoader.load(URLS, fetchTimeoutMs, analyticsOptions).then((message) => finish(Object.assign(message, { id })),
    (e) => finish({ id, ok: false, kind: e.kind || "other", message: e.message || String(e) }));
}

function finish(message) {
  if (!inflight || message.id !== requestId) return;
  clearTimeout(watchdog);
  message.worker = !!worker;
  try {
    onResult(message);
  } finally {
    inflight = false;
    schedule(Math.max(50, refreshMs - (performance.now() - startedAt)));
  }
}

/* onSnapshotOrFailure(message): message.ok and a snapshot (model.js), or
   {ok: false, kind, message} */
export function startPolling(onSnapshotOrFailure) {
  onResult = onSnapshotOrFailure;
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) { clearTimeout(timer); timer = 0; }
    else if (!inflight) poll();
  });
  poll();
}
