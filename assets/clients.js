/* The client list on the main thread: the model the worker (or the fallback
 * loader) built, adopted as it arrives, and the view of it the grid shows:
 * sorted by the chosen key, filtered by the search and the status filter.
 */
import { ADDRESS_FIELDS, COLUMNS, INDEX_SHIFT, STATUSES, ipv4Number, ipv6Hex } from "./model.js";
import { prefs } from "./prefs.js";

/* version: +1 per adopted snapshot (0: none yet); sameOrder: the address
   list did not change since the previous version */
export let model = { version: 0, count: 0, columns: {}, sameOrder: false, byKey: null };
export let view = new Uint32Array(0); // model rows, in display order
export let query = { text: "", cidr: null }; // the search as last understood

/* "new in the last hour" (analytics.js): rows first seen at or after this
   epoch second; null = no such filter */
export let newSince = null;
export function setNewSince(t) { newSince = t; }

export function hasData() { return model.version > 0; }

/* chronyd did not answer for the client list: the cards shown are the last
   known ones (or there are none to show) */
export let listUnknown = false;
export function setListUnknown(unknown) { listUnknown = unknown; }

/* message: from snapshotLoader().load(); address and hostname fields come
   only when they changed */
export function adoptModel(message) {
  const previous = model;
  const next = { version: previous.version + 1, count: message.count, columns: message.columns,
                 status: message.status, ntsState: message.ntsState, hasNts: message.hasNts,
                 sameOrder: !message.addressChanged && previous.version > 0, byKey: null };
  const addresses = message.addressChanged ? message : previous;
  for (const name of ADDRESS_FIELDS) next[name] = addresses[name];
  if (!message.addressChanged) next.byKey = previous.byKey;
  const hosts = message.hostChanged || message.addressChanged ? message : previous;
  next.hostname = hosts.hostname;
  next.hostnameLower = hosts.hostnameLower;
  model = next;
}

/* card key -> model row, built when first needed */
export function rowByKey() {
  if (!model.byKey) {
    const index = new Map();
    for (let i = 0; i < model.count; i++) index.set(model.cardKey[i], i);
    model.byKey = index;
  }
  return model.byKey;
}

/* a changed card differs in this text (the grid redraws a card only then) */
export function rowSignature(i, open) {
  const c = model.columns;
  let s = model.address[i] + "\u0001" + model.hostname[i] + "\u0001" + model.status[i] + "\u0001" +
    model.ntsState[i] + (open ? "\u0001o" : "\u0001c");
  for (const name of COLUMNS) s += "\u0001" + c[name][i];
  return s;
}

// ------------------------------------------------------------------ sort
const SORT_COLUMN = { drops: "ntpDrops", last: "lastSeen", packets: "ntpPackets", rate: "ntpRate" };
const sortCache = { key: null, dir: null, version: -1, order: null, column: null };

function sortedOrder() {
  const key = prefs.sort, desc = prefs.dir === "desc", n = model.count;
  const cache = sortCache;
  if (cache.version === model.version && cache.key === key && cache.dir === prefs.dir) return cache.order;
  let order;
  if (key === "address") {
    if (desc) { order = new Uint32Array(n); for (let i = 0; i < n; i++) order[i] = model.byAddress[n - 1 - i]; }
    else order = model.byAddress;
    cache.column = null;
  } else {
    const column = model.columns[SORT_COLUMN[key]];
    // unchanged key column and address order: the previous order still holds
    if (model.sameOrder && cache.key === key && cache.dir === prefs.dir && cache.column &&
        cache.column.length === n && sameValues(cache.column, column)) {
      order = cache.order;
    } else {
      order = sortByColumn(column, desc, key === "rate" ? 1000 : 1);
      cache.column = column.slice();
    }
  }
  Object.assign(cache, { key, dir: prefs.dir, version: model.version, order });
  return order;
}

function sameValues(a, b) {
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x !== y && (x === x || y === y)) return false; // NaN equals NaN here
  }
  return true;
}

/* rows by a column's value (scaled to integers), ties by address; unknown
   values (NaN) last in both directions */
function sortByColumn(column, desc, scale) {
  const n = model.count, { rank, byAddress } = model;
  let max = 0;
  for (let i = 0; i < n; i++) if (column[i] > max) max = column[i];
  const maxScaled = Math.round(max * scale);
  const order = new Uint32Array(n);
  if (n <= INDEX_SHIFT && (maxScaled + 2) * INDEX_SHIFT < Number.MAX_SAFE_INTEGER) {
    // composite keys (value, address rank) in one Float64Array: native numeric sort
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const x = column[i];
      let k;
      if (x !== x) k = maxScaled + 1;
      else { k = Math.round(x * scale); if (desc) k = maxScaled - k; }
      keys[i] = k * INDEX_SHIFT + rank[i];
    }
    keys.sort();
    for (let i = 0; i < n; i++) order[i] = byAddress[keys[i] % INDEX_SHIFT];
    return order;
  }
  for (let i = 0; i < n; i++) order[i] = i;
  const sign = desc ? -1 : 1;
  order.sort((a, b) => {
    const x = column[a], y = column[b];
    if (x !== y) {
      if (x !== x) return 1;
      if (y !== y) return -1;
      return x < y ? -sign : sign;
    }
    return rank[a] - rank[b];
  });
  return order;
}

// ------------------------------------------------------------------ filter
/* "10.1.0.0/16" or "2001:db8::/32" -> a network to match, {bad} if it looks
   like one but is not, null if the search is not a CIDR */
function parseCidr(text) {
  const m = /^([0-9a-f:.]+)\/(\d{1,3})$/i.exec(text);
  if (!m) return null;
  const bits = +m[2], label = m[1] + "/" + bits;
  if (m[1].includes(":")) {
    const hex = ipv6Hex(m[1]);
    if (!hex || bits > 128) return { bad: true };
    const full = bits >> 2, rest = bits & 3; // whole hex digits, then bits of the next one
    return { family: 6, prefix: hex.slice(0, full), full, rest,
             nibble: rest ? parseInt(hex[full], 16) >> (4 - rest) : 0, text: label };
  }
  const n = ipv4Number(m[1]);
  if (n < 0 || bits > 32) return { bad: true };
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { family: 4, mask, net: (n & mask) >>> 0, text: label };
}

/* row -> shown?, or null when nothing is filtered */
function matcher() {
  const text = prefs.query.trim().toLowerCase();
  const cidr = text ? parseCidr(text) : null;
  query = { text, cidr };
  const wanted = prefs.status ? STATUSES.indexOf(prefs.status) : -1;
  if (!text && wanted < 0 && newSince === null) return null;
  const { status, address, hostnameLower, family, ipv4, ipv6 } = model;
  const since = newSince, firstSeen = model.columns.firstSeen;
  const statusOk = since === null ? (i) => wanted < 0 || status[i] === wanted
    : (i) => (wanted < 0 || status[i] === wanted) && firstSeen[i] >= since;
  if (!text) return statusOk;
  if (cidr) {
    if (cidr.bad) return () => false;
    if (cidr.family === 4) {
      const { mask, net } = cidr;
      return (i) => family[i] === 4 && ((ipv4[i] & mask) >>> 0) === net && statusOk(i);
    }
    return (i) => family[i] === 6 && ipv6[i].startsWith(cidr.prefix) &&
      (!cidr.rest || (parseInt(ipv6[i][cidr.full], 16) >> (4 - cidr.rest)) === cidr.nibble) && statusOk(i);
  }
  return (i) => statusOk(i) &&
    (address[i].includes(text) || (hostnameLower[i] !== null && hostnameLower[i].includes(text)));
}

let viewOf = { text: null, status: null, version: -1, order: null, since: null };

export function computeView() {
  const order = sortedOrder();
  const text = prefs.query.trim().toLowerCase();
  // typing more characters only narrows the previous result (same data, same order)
  const narrowing = viewOf.version === model.version && viewOf.order === order && viewOf.status === prefs.status && viewOf.since === newSince &&
    viewOf.text && text.startsWith(viewOf.text) && !text.includes("/") && !viewOf.text.includes("/");
  const shown = matcher();
  if (!shown) view = order;
  else {
    const from = narrowing ? view : order, out = new Uint32Array(from.length);
    let k = 0;
    for (let p = 0; p < from.length; p++) { const row = from[p]; if (shown(row)) out[k++] = row; }
    view = out.subarray(0, k);
  }
  viewOf = { text, status: prefs.status, version: model.version, order, since: newSince };
}
