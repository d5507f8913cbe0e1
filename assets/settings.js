/* The page's settings, rendered by chrony-snap into <html data-...>. */

/* a positive finite number from an attribute, else fallback */
export function pageSetting(attribute, fallback) {
  const x = Number(document.documentElement.getAttribute(attribute));
  return isFinite(x) && x > 0 ? x : fallback;
}
