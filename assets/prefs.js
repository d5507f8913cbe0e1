/* The viewer's choices, persisted in localStorage: theme, sort, search,
 * status filter, which cards are open, and the Trends' range and whether it is open. Storage that is corrupt, full or
 * disabled is ignored: the page then starts from the defaults.
 */
import { STATUSES } from "./model.js";

const STORE_KEY = "chrony-snap.ui.v1"; // theme.js reads the theme from it before first paint
const MAX_EXCEPTIONS = 10000;

/* each sort key's natural direction (the worst or most recent first) */
export const SORT_DIRECTION = { address: "asc", drops: "desc", last: "asc", packets: "desc", rate: "desc" };

/* the Trends' time ranges, in seconds */
export const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000, "1y": 31536000 };

export const prefs = {
  theme: null,           // "light" | "dark" | null (follow the system)
  sort: "address",
  dir: "asc",
  query: "",
  status: "",            // "" or one of STATUSES: the summary filter
  allOpen: false,        // expand all / collapse all ...
  exceptions: new Set(), // ... except these cards (by card key)
  range: "24h",          // one of RANGES
  trendsOpen: false,     // the Trends section open (closed, it loads nothing)
};

export function isOpen(cardKey) { return prefs.allOpen !== prefs.exceptions.has(cardKey); }

export function isSortKey(key) { return Object.hasOwn(SORT_DIRECTION, key); }

export function loadPrefs() {
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null"); } catch (e) { saved = null; }
  if (!saved || typeof saved !== "object" || Array.isArray(saved)) return;
  if (saved.theme === "light" || saved.theme === "dark") prefs.theme = saved.theme;
  if (typeof saved.sort === "string" && isSortKey(saved.sort)) {
    prefs.sort = saved.sort;
    prefs.dir = SORT_DIRECTION[saved.sort];
  }
  if (saved.dir === "asc" || saved.dir === "desc") prefs.dir = saved.dir;
  if (typeof saved.q === "string" && saved.q.length <= 200) prefs.query = saved.q;
  if (STATUSES.includes(saved.status)) prefs.status = saved.status;
  if (typeof saved.range === "string" && Object.hasOwn(RANGES, saved.range)) prefs.range = saved.range;
  if (typeof saved.trendsOpen === "boolean") prefs.trendsOpen = saved.trendsOpen;
  if (typeof saved.allOpen === "boolean") prefs.allOpen = saved.allOpen;
  if (Array.isArray(saved.except)) {
    for (const key of saved.except.slice(0, MAX_EXCEPTIONS)) {
      if (typeof key === "string" && key.length <= 64) prefs.exceptions.add(key);
    }
  }
}

let saveTimer = 0;

function saveNow() {
  saveTimer = 0;
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify({
      v: 1, theme: prefs.theme, sort: prefs.sort, dir: prefs.dir, q: prefs.query, status: prefs.status,
      allOpen: prefs.allOpen, range: prefs.range, trendsOpen: prefs.trendsOpen, except: Array.from(prefs.exceptions).slice(0, MAX_EXCEPTIONS) }));
  } catch (e) { /* storage full or disabled: not fatal */ }
}

/* typing and clicking save at most every 150 ms */
export function savePrefsSoon() { if (!saveTimer) saveTimer = setTimeout(saveNow, 150); }

addEventListener("pagehide", () => { if (saveTimer) { clearTimeout(saveTimer); saveNow(); } });
