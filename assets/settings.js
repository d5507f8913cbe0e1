/* The page's settings, rendered by chrony-snap into <html data-...>. */

/* a positive finite number from an attribute, else fallback */
export function pageSetting(attribute, fallback) {
  const x = Number(document.documentElement.getAttribute(attribute));
  return isFinite(x) && x > 0 ? x : fallback;
}

/* "1,5,30" -> [1, 5, 30]: finite numbers only */
function numberList(attribute) {
  const text = document.documentElement.getAttribute(attribute) || "";
  return text.split(",").map(Number).filter((x) => text && isFinite(x));
}

/* the client-population section's settings (model.js analyse()): the
   histogram buckets are metrics.py's, rendered into the page */
export const analyticsOptions = {
  timeBuckets: numberList("data-time-buckets"),
  dropBuckets: numberList("data-drop-buckets"),
  ipv4Prefix: Math.min(32, pageSetting("data-ipv4-prefix", 24)),
  ipv6Prefix: Math.min(128, pageSetting("data-ipv6-prefix", 48)),
};
