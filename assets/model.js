/* data.json -> a columnar client model. Pure data code (no DOM), shared by
 * the module worker (worker.js) and by the page itself when no worker can
 * start (poll.js): the same functions on either thread.
 */

/* One Float64Array per column; null or absent values are NaN. */
export const COLUMNS = ["ntpPackets", "ntpDrops", "ntpInterval", "ntpIntervalLimited", "ntpLastSeen",
  "cmdPackets", "cmdDrops", "cmdInterval", "cmdLastSeen",
  "ntsConnections", "ntsDrops", "ntsInterval", "ntsLastSeen",
  "ntpRate", "dropRate", "lastSeen", "firstSeen"];

/* What depends only on the address list; rebuilt (and sent) only when it changed. */
export const ADDRESS_FIELDS = ["address", "cardKey", "family", "ipv4", "ipv6", "rank", "byAddress"];

export const STATUSES = ["ok", "warning", "critical"]; // index = the model's status code

/* value * 2^20 + index stays exact in a double for values < 2^33: sort keys
   that carry their row index, so a native numeric sort does the work */
export const INDEX_SHIFT = 1048576;

export function numberOrNaN(v) { return typeof v === "number" ? v : NaN; }

/* "192.0.2.1" -> its 32-bit value, or -1 if it is not a dotted quad */
export function ipv4Number(text) {
  const parts = text.split(".");
  if (parts.length !== 4) return -1;
  let n = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return -1;
    const x = +part;
    if (x > 255) return -1;
    n = n * 256 + x;
  }
  return n;
}

/* an IPv6 address -> its 32 lowercase hex digits (compares and prefix-matches
   as text), or null */
export function ipv6Hex(text) {
  let s = text.toLowerCase();
  if (s.includes(".")) { // embedded IPv4 (::ffff:192.0.2.1)
    const colon = s.lastIndexOf(":"), v4 = ipv4Number(s.slice(colon + 1));
    if (colon < 0 || v4 < 0) return null;
    s = s.slice(0, colon + 1) + Math.floor(v4 / 65536).toString(16) + ":" + (v4 % 65536).toString(16);
  }
  let groups;
  const gap = s.indexOf("::");
  if (gap >= 0) {
    if (s.indexOf("::", gap + 1) >= 0) return null;
    const head = s.slice(0, gap), tail = s.slice(gap + 2);
    const headGroups = head ? head.split(":") : [], tailGroups = tail ? tail.split(":") : [];
    if (headGroups.length + tailGroups.length > 7) return null;
    groups = headGroups;
    for (let z = headGroups.length + tailGroups.length; z < 8; z++) groups.push("0");
    groups = groups.concat(tailGroups);
  } else {
    groups = s.split(":");
    if (groups.length !== 8) return null;
  }
  let out = "";
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
    out += g.padStart(4, "0");
  }
  return out;
}

const byText = (texts) => (a, b) => texts[a] < texts[b] ? -1 : texts[a] > texts[b] ? 1 : 0;

/* Address order: IPv4 numerically, then IPv6 numerically, then anything else
   by text. Fills family (4, 6 or 0), ipv4, ipv6, byAddress (row indices in
   that order) and rank (each row's position in it). */
function orderByAddress(m) {
  const { count, address } = m;
  const family = m.family = new Uint8Array(count), ipv4 = m.ipv4 = new Float64Array(count);
  const ipv6 = m.ipv6 = new Array(count);
  const v6Rows = [], otherRows = [];
  let v4Count = 0;
  for (let i = 0; i < count; i++) {
    const a = address[i];
    const x = a.includes(":") ? -1 : ipv4Number(a);
    ipv6[i] = null;
    if (x >= 0) { family[i] = 4; ipv4[i] = x; v4Count++; continue; }
    const hex = ipv6Hex(a);
    if (hex !== null) { family[i] = 6; ipv6[i] = hex; v6Rows.push(i); } else { family[i] = 0; otherRows.push(i); }
  }
  const byAddress = m.byAddress = new Uint32Array(count);
  let r = 0;
  if (count <= INDEX_SHIFT) {
    const keys = new Float64Array(v4Count);
    let k = 0;
    for (let i = 0; i < count; i++) if (family[i] === 4) keys[k++] = ipv4[i] * INDEX_SHIFT + i;
    keys.sort();
    for (let i = 0; i < v4Count; i++) byAddress[r++] = keys[i] % INDEX_SHIFT;
  } else {
    const v4Rows = [];
    for (let i = 0; i < count; i++) if (family[i] === 4) v4Rows.push(i);
    v4Rows.sort((a, b) => ipv4[a] - ipv4[b]);
    for (const i of v4Rows) byAddress[r++] = i;
  }
  v6Rows.sort(byText(ipv6));
  for (const i of v6Rows) byAddress[r++] = i;
  otherRows.sort(byText(address));
  for (const i of otherRows) byAddress[r++] = i;
  const rank = m.rank = new Uint32Array(count);
  for (let i = 0; i < count; i++) rank[byAddress[i]] = i;
  m.cardKey = cardKeys(m);
}

function samePlace(m, a, b) {
  const f = m.family[a];
  if (f !== m.family[b]) return false;
  return f === 4 ? m.ipv4[a] === m.ipv4[b] : f === 6 ? m.ipv6[a] === m.ipv6[b] : m.address[a] === m.address[b];
}

/* Each row's card key: its address, except for a second or later copy of the
   same address (a broken or hostile data.json), which gets "ADDRESS\0N" so
   that every row still gets a card of its own. Copies sort next to each
   other, so only runs of equal addresses are compared. */
function cardKeys(m) {
  const { count, address, byAddress } = m;
  let keys = address; // no duplicates (the usual case): no copy
  let runStart = 0;
  for (let r = 1; r <= count; r++) {
    if (r < count && samePlace(m, byAddress[r - 1], byAddress[r])) continue;
    for (let j = runStart + 1; j < r; j++) {
      const row = byAddress[j];
      let copies = 0;
      for (let e = runStart; e < j; e++) if (address[byAddress[e]] === address[row]) copies++;
      if (copies) {
        if (keys === address) keys = address.slice();
        keys[row] = address[row] + "\u0000" + copies;
      }
    }
    runStart = r;
  }
  return keys;
}

/* clients: data.json's list; previous: the model built from the previous
   snapshot (or null). Returns {count, address, hostname, hostnameLower,
   status, ntsState, hasNts, columns, addressChanged, hostChanged, and the
   ADDRESS_FIELDS}. Unchanged address fields are previous's. */
export function buildModel(clients, previous) {
  let count = clients.length;
  const address = new Array(count), hostname = new Array(count), rows = new Array(count);
  let sameAddresses = !!previous && previous.count === count;
  let k = 0;
  for (let i = 0; i < count; i++) {
    const row = clients[i];
    if (!row || typeof row.address !== "string") continue; // malformed row: skipped
    address[k] = row.address;
    hostname[k] = typeof row.hostname === "string" ? row.hostname : null;
    if (sameAddresses && previous.address[k] !== row.address) sameAddresses = false;
    rows[k++] = row;
  }
  if (k !== count) {
    count = k; address.length = count; hostname.length = count;
    sameAddresses = sameAddresses && previous.count === count;
  }
  const m = { count, address, hostname, columns: {}, addressChanged: !sameAddresses || count === 0 };
  const c = m.columns;
  for (const name of COLUMNS) c[name] = new Float64Array(count);
  const status = m.status = new Uint8Array(count);
  // NTS-KE: 1 = has data, 0 = collected but none for this client, -1 = not collected
  const ntsState = m.ntsState = new Int8Array(count);
  const hostnameLower = m.hostnameLower = new Array(count);
  let hasNts = false, sameHosts = sameAddresses;
  const firstSeenOf = new Map(); // most clients share a few first_seen texts: parse each once
  for (let i = 0; i < count; i++) {
    const row = rows[i];
    const s = STATUSES.indexOf(row.status);
    status[i] = s < 0 ? 0 : s;
    const h = hostname[i];
    if (sameAddresses && previous.hostname[i] === h) hostnameLower[i] = previous.hostnameLower[i];
    else { sameHosts = false; hostnameLower[i] = h === null ? null : h.toLowerCase(); }
    const ntp = row.ntp || {}, cmd = row.cmd || {}, rate = row.rate || {};
    c.ntpPackets[i] = numberOrNaN(ntp.packets); c.ntpDrops[i] = numberOrNaN(ntp.drops);
    c.ntpInterval[i] = numberOrNaN(ntp.interval_s); c.ntpIntervalLimited[i] = numberOrNaN(ntp.interval_limited_s);
    c.ntpLastSeen[i] = numberOrNaN(ntp.last_seen_s);
    c.cmdPackets[i] = numberOrNaN(cmd.packets); c.cmdDrops[i] = numberOrNaN(cmd.drops);
    c.cmdInterval[i] = numberOrNaN(cmd.interval_s); c.cmdLastSeen[i] = numberOrNaN(cmd.last_seen_s);
    c.ntpRate[i] = numberOrNaN(rate.ntp_pps); c.dropRate[i] = numberOrNaN(rate.drop_pps);
    // last seen on any port: the smallest known value (NaN = never)
    let last = c.ntpLastSeen[i];
    if (last !== last || c.cmdLastSeen[i] < last) last = c.cmdLastSeen[i];
    const nts = row.nts_ke;
    if (nts) {
      ntsState[i] = 1;
      c.ntsConnections[i] = numberOrNaN(nts.connections); c.ntsDrops[i] = numberOrNaN(nts.drops);
      c.ntsInterval[i] = numberOrNaN(nts.interval_s); c.ntsLastSeen[i] = numberOrNaN(nts.last_seen_s);
      if (last !== last || c.ntsLastSeen[i] < last) last = c.ntsLastSeen[i];
    } else {
      ntsState[i] = "nts_ke" in row ? 0 : -1;
      c.ntsConnections[i] = c.ntsDrops[i] = c.ntsInterval[i] = c.ntsLastSeen[i] = NaN;
    }
    if (ntsState[i] >= 0) hasNts = true;
    c.lastSeen[i] = last;
    const first = row.first_seen;
    if (typeof first !== "string") c.firstSeen[i] = NaN;
    else {
      let t = firstSeenOf.get(first);
      if (t === undefined) { t = Date.parse(first) / 1000; firstSeenOf.set(first, t); }
      c.firstSeen[i] = t; // epoch seconds (NaN: unparsable)
    }
  }
  m.hasNts = hasNts;
  m.hostChanged = !sameHosts || m.addressChanged;
  if (m.addressChanged) orderByAddress(m);
  else for (const name of ADDRESS_FIELDS) m[name] = previous[name];
  return m;
}

// ------------------------------------------------------------------ analytics
const TOP = 5, MAX_GROUPS = 50;
export const NEW_WINDOW_S = 3600; // "new in the last hour"

/* the index of the first bound >= v (bounds.length: above the last) */
function bucketOf(bounds, v) {
  for (let j = 0; j < bounds.length; j++) if (v <= bounds[j]) return j;
  return bounds.length;
}

/* rows with the TOP largest values (> 0, not NaN) of a column, largest first, ties by address */
function topRows(m, column) {
  const top = [];
  for (let i = 0; i < m.count; i++) {
    const v = column[i];
    if (!(v > 0)) continue;
    if (top.length === TOP && v <= column[top[TOP - 1]]) continue;
    let p = top.length;
    while (p > 0 && (column[top[p - 1]] < v || (column[top[p - 1]] === v && m.rank[top[p - 1]] > m.rank[i]))) p--;
    top.splice(p, 0, i);
    if (top.length > TOP) top.pop();
  }
  return top.map((i) => ({ key: m.cardKey[i], address: m.address[i], hostname: m.hostname[i], value: column[i] }));
}

function ipv4Text(n) { return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join("."); }

/* 32 hex digits -> the shortest text (RFC 5952) */
function ipv6Text(hex) {
  const groups = [];
  for (let g = 0; g < 8; g++) groups.push(parseInt(hex.slice(g * 4, g * 4 + 4), 16).toString(16));
  let best = -1, bestLen = 1;
  for (let g = 0; g < 8;) {
    if (groups[g] !== "0") { g++; continue; }
    let e = g; while (e < 8 && groups[e] === "0") e++;
    if (e - g > bestLen) { best = g; bestLen = e - g; }
    g = e;
  }
  if (best < 0) return groups.join(":");
  return groups.slice(0, best).join(":") + "::" + groups.slice(best + bestLen).join(":");
}

/* an IPv6 hex text cut to `bits` (the rest zero) */
function ipv6Network(hex, bits) {
  const full = bits >> 2, rest = bits & 3;
  let out = hex.slice(0, full);
  if (rest) out += ((parseInt(hex[full], 16) >> (4 - rest)) << (4 - rest)).toString(16);
  return out.padEnd(32, "0");
}

/* The client-population section's numbers, from the model's columns:
   histograms with chrony_exporter's buckets counted as metrics.py counts
   them, NTP vs NTS-KE, top talkers and droppers, networks and new clients.
   opts: {timeBuckets, dropBuckets, ipv4Prefix, ipv6Prefix}; now: the
   snapshot's time (epoch s). */
function analyse(m, opts, now) {
  const c = m.columns, n = m.count;
  const tb = opts.timeBuckets, db = opts.dropBuckets;
  const last = new Array(tb.length + 1).fill(0), interval = new Array(tb.length + 1).fill(0);
  const drops = new Array(db.length + 1).fill(0);
  const v4bits = opts.ipv4Prefix, v6bits = opts.ipv6Prefix;
  const v4div = 2 ** (32 - v4bits);
  const groups4 = new Map(), groups6 = new Map();
  let ntsClients = 0, ntpOnly = 0, newCount = 0;
  const since = now - NEW_WINDOW_S;
  for (let i = 0; i < n; i++) {
    const packets = c.ntpPackets[i], d = c.ntpDrops[i];
    if (packets > 0) {
      const ls = c.ntpLastSeen[i], iv = c.ntpInterval[i];
      if (ls === ls) last[bucketOf(tb, ls)]++;
      if (iv === iv) interval[bucketOf(tb, iv)]++;
    }
    if (packets > 0 || d > 0) drops[bucketOf(db, d)]++;
    if (m.ntsState[i] >= 0) { if (c.ntsConnections[i] > 0) ntsClients++; else if (packets > 0) ntpOnly++; }
    if (c.firstSeen[i] >= since) newCount++;
    const f = m.family[i];
    let g;
    if (f === 4) {
      const key = Math.floor(m.ipv4[i] / v4div);
      g = groups4.get(key);
      if (!g) { g = { family: 4, key, count: 0, packets: 0, drops: 0, worst: 0 }; groups4.set(key, g); }
    } else if (f === 6) {
      const key = ipv6Network(m.ipv6[i], v6bits);
      g = groups6.get(key);
      if (!g) { g = { family: 6, key, count: 0, packets: 0, drops: 0, worst: 0 }; groups6.set(key, g); }
    } else continue;
    g.count++;
    if (packets === packets) g.packets += packets;
    if (d === d) g.drops += d;
    if (m.status[i] > g.worst) g.worst = m.status[i];
  }
  const all = [...groups4.values(), ...groups6.values()];
  all.sort((a, b) => b.count - a.count || b.drops - a.drops || (a.family - b.family) ||
    (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const networks = all.slice(0, MAX_GROUPS).map((g) => ({
    cidr: (g.family === 4 ? ipv4Text(g.key * v4div) + "/" + v4bits : ipv6Text(g.key) + "/" + v6bits),
    count: g.count, packets: g.packets, drops: g.drops, worst: STATUSES[g.worst] }));
  return {
    histograms: { last, interval, drops },
    nts: m.hasNts ? { nts: ntsClients, ntpOnly } : null,
    talkers: topRows(m, c.ntpRate), droppers: topRows(m, c.ntpDrops),
    networks, networkCount: all.length, newCount,
    hasFirstSeen: n > 0 && c.firstSeen.some((t) => t === t),
  };
}

/* Everything of data.json but the client list. */
export function snapshotMeta(json) {
  const meta = {};
  for (const key of Object.keys(json)) if (key !== "clients") meta[key] = json[key];
  return meta;
}

/* A failure the page explains: kind is timeout, json, network or other. */
function failure(kind, message) { return { kind, message }; }

function failureOf(e) {
  if (e && e.kind) return e;
  const name = e && e.name;
  return failure(name === "AbortError" ? "timeout" : name === "SyntaxError" ? "json" : name === "TypeError" ? "network" : "other",
                 (e && e.message) || String(e));
}

/* GET a JSON document with a timeout (cache: "no-store" for the files
   replaced every second, "no-cache" for a client list: revalidated by ETag).
   Resolves {json, date, tResponse, tParsed}; rejects with a failure
   (status: the HTTP status when there was one). */
export async function fetchJSON(url, timeoutMs, cache = "no-store") {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const response = await fetch(url, { cache, signal: abort.signal, credentials: "same-origin",
                                         headers: { Accept: "application/json" } });
    if (!response.ok) {
      const e = failure("other", "HTTP " + response.status + (response.statusText ? " " + response.statusText : ""));
      e.status = response.status;
      throw e;
    }
    const tResponse = performance.now();
    const date = response.headers.get("Date");
    const json = await response.json();
    return { json, date, tResponse, tParsed: performance.now() };
  } catch (e) {
    throw failureOf(e);
  } finally {
    clearTimeout(timer);
  }
}

function checkObject(json, name) {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw failure("other", name + " is not a JSON object");
}

/* GET data.json with a timeout. Resolves {json, date, tResponse, tParsed};
   rejects with a failure. */
export async function fetchSnapshot(url, timeoutMs) {
  const got = await fetchJSON(url, timeoutMs);
  checkObject(got.json, "data.json");
  // without a list the snapshot says nothing about the clients: not "no clients"
  if (!Array.isArray(got.json.clients)) throw failure("other", "data.json has no client list");
  return got;
}

/* live.json, then the client list it names, then data.json when that list
   is gone: what the poll's watchdog must allow for (poll.js) */
export const FETCHES_PER_LOAD = 3;

/* Fetches snapshots and models them, one thread's worth: remembers the last
   model so that an unchanged client list costs no download and no model,
   and an unchanged address list no re-sort. load(urls) resolves a message
   for the page: {ok, date, meta, same, clientsSame, timings, ...model}
   (same: seq unchanged; clientsSame: no model, the page keeps its own).

   urls.live: the per-second file (data.json without the list; it names the
   list by clients_seq; clients-SEQ.json.gz is fetched beside it),
   urls.whole: data.json, used where there is no live.json (an older
   chrony-snap, a hand-made data.json) or no clients-SEQ.json (gzip off). */
export function snapshotLoader() {
  let previous = null, previousSeq = null, previousClientsSeq = null, whole = false;

  /* meta: the snapshot (data.json or live.json) that named this list */
  function adopt(message, clients, tParsed, meta, analytics) {
    const model = buildModel(clients, previous);
    previousSeq = meta.seq;
    previousClientsSeq = typeof meta.clients_seq === "number" ? meta.clients_seq : null;
    previous = { count: model.count, hostname: model.hostname, hostnameLower: model.hostnameLower };
    for (const name of ADDRESS_FIELDS) previous[name] = model[name];
    message.timings.build = performance.now() - tParsed;
    if (analytics) {
      const tBuilt = performance.now(), now = Date.parse(meta.generated_at) / 1000;
      message.analytics = analyse(model, analytics, now === now ? now : Date.now() / 1000);
      message.timings.analytics = performance.now() - tBuilt;
    }
    return Object.assign(message, model);
  }

  async function loadWhole(urls, timeoutMs, t0, analytics) {
    const { json, date, tResponse, tParsed } = await fetchSnapshot(urls.whole, timeoutMs);
    const timings = { fetch: tResponse - t0, parse: tParsed - tResponse, build: 0 };
    const message = { ok: true, date, meta: snapshotMeta(json), same: false, clientsSame: false, timings };
    if (previous && json.seq === previousSeq) {
      message.same = message.clientsSame = true;
      return message;
    }
    return adopt(message, json.clients, tParsed, json, analytics);
  }

  return {
    /* analytics: analyse()'s opts, or absent for none.  At most
       FETCHES_PER_LOAD fetches in turn, each within timeoutMs. */
    async load(urls, timeoutMs, analytics) {
      const t0 = performance.now();
      if (whole) return loadWhole(urls, timeoutMs, t0, analytics);
      let live;
      try {
        live = await fetchJSON(urls.live, timeoutMs);
      } catch (e) {
        if (e.status !== 404 || previous) throw e;
        whole = true; // no live.json here: data.json it is, for good
        return loadWhole(urls, timeoutMs, t0, analytics);
      }
      checkObject(live.json, "live.json");
      const meta = live.json, clientsSeq = meta.clients_seq;
      const timings = { fetch: live.tResponse - t0, parse: live.tParsed - live.tResponse, build: 0 };
      const message = { ok: true, date: live.date, meta, same: false, clientsSame: false, timings };
      if (previous && clientsSeq === previousClientsSeq) {
        message.clientsSame = true;
        message.same = meta.seq === previousSeq;
        previousSeq = meta.seq;
        return message;
      }
      if (typeof clientsSeq !== "number") throw failure("other", "live.json names no client list");
      const t1 = performance.now();
      let list;
      try {
        list = await fetchJSON(new URL("clients-" + clientsSeq + ".json", urls.live).href, timeoutMs, "no-cache");
      } catch (e) {
        // none (output.gzip off) or already replaced by two newer ones: data.json has it all
        if (e.status === 404) return loadWhole(urls, timeoutMs, t0, analytics);
        throw e;
      }
      if (!Array.isArray(list.json)) throw failure("other", "clients-" + clientsSeq + ".json is not a list");
      timings.fetch += list.tResponse - t1;
      timings.parse += list.tParsed - list.tResponse;
      return adopt(message, list.json, list.tParsed, meta, analytics);
    },
  };
}
