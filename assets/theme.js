// Runs in <head> before first paint: apply a stored theme choice (if any) so a
// reload never flashes the other theme. Without a stored choice the CSS
// follows prefers-color-scheme. Corrupt or unavailable storage is ignored.
(function () {
  "use strict";
  try {
    var s = JSON.parse(window.localStorage.getItem("chrony-snap.ui.v1") || "null");
    if (s && (s.theme === "light" || s.theme === "dark")) {
      document.documentElement.setAttribute("data-theme", s.theme);
    }
  } catch (e) { /* ignore */ }
})();
