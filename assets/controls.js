/* The controls: theme toggle, search, sort key and direction, the summary's
 * status filter, expand/collapse all. Each change is saved (prefs.js) and
 * redraws the client list.
 */
import { byId, root, setAttr, setText } from "./dom.js";
import { searchTyped, setAllOpen, showClients } from "./grid.js";
import { SORT_DIRECTION, isSortKey, prefs, savePrefsSoon } from "./prefs.js";

// ------------------------------------------------------------------ theme
const systemDark = matchMedia("(prefers-color-scheme: dark)");
const themeButton = byId("theme-toggle");

function currentTheme() { return prefs.theme || (systemDark.matches ? "dark" : "light"); }

/* the button offers the other theme; theme.js applied a saved one before first paint */
function showTheme() {
  if (prefs.theme) root.setAttribute("data-theme", prefs.theme); else root.removeAttribute("data-theme");
  const other = currentTheme() === "dark" ? "light" : "dark";
  setText(byId("theme-ico"), other === "dark" ? "☾" : "☀");
  setText(byId("theme-label"), other === "dark" ? "Dark" : "Light");
  setAttr(themeButton, "aria-label", "Switch to " + other + " theme");
}

// ------------------------------------------------------------------ client list controls
const searchBox = byId("q"), sortSelect = byId("sort"), directionButton = byId("dir");
const filterButtons = document.querySelectorAll(".sf");

function showControls() {
  if (searchBox.value !== prefs.query) searchBox.value = prefs.query;
  if (sortSelect.value !== prefs.sort) sortSelect.value = prefs.sort;
  const ascending = prefs.dir === "asc";
  setText(byId("dir-ico"), ascending ? "↑" : "↓");
  setText(byId("dir-label"), ascending ? "Ascending" : "Descending");
  setAttr(directionButton, "aria-label", "Sort direction: " + (ascending ? "ascending" : "descending") + " (click to reverse)");
  for (const b of filterButtons) setAttr(b, "aria-pressed", b.getAttribute("data-status") === prefs.status ? "true" : "false");
  root.classList.toggle("filtered", !!prefs.status);
}

function changed() {
  showControls();
  savePrefsSoon();
  showClients(false);
}

/* the status filter off, and the search too when asked (analytics.js: a
   jump to a card they hide); the caller redraws the list */
export function clearFilters(search) {
  prefs.status = "";
  if (search) prefs.query = "";
  showControls();
  savePrefsSoon();
}

export function startControls() {
  showTheme();
  showControls();
  themeButton.addEventListener("click", () => {
    prefs.theme = currentTheme() === "dark" ? "light" : "dark";
    showTheme();
    savePrefsSoon();
  });
  systemDark.addEventListener("change", showTheme);
  searchBox.addEventListener("input", (event) => {
    prefs.query = searchBox.value;
    savePrefsSoon();
    searchTyped(event, searchBox.value);
  });
  searchBox.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && searchBox.value) { searchBox.value = ""; searchBox.dispatchEvent(new Event("input")); }
  });
  sortSelect.addEventListener("change", () => {
    prefs.sort = isSortKey(sortSelect.value) ? sortSelect.value : "address";
    prefs.dir = SORT_DIRECTION[prefs.sort];
    changed();
  });
  directionButton.addEventListener("click", () => {
    prefs.dir = prefs.dir === "asc" ? "desc" : "asc";
    changed();
  });
  document.querySelector(".sum-filters").addEventListener("click", (event) => {
    const button = event.target.closest(".sf");
    if (!button) return;
    const status = button.getAttribute("data-status");
    prefs.status = prefs.status === status ? "" : status;
    changed();
  });
  byId("expand-all").addEventListener("click", () => setAllOpen(true));
  byId("collapse-all").addEventListener("click", () => setAllOpen(false));
}
