/* The server's history as chrony-snap publishes it (history/index.json, the
 * tiers' immutable chunks and their tails; README "History"), assembled into
 * one window of regular buckets for the charts, then extended from each
 * data.json poll (its history.row). Pure data code: no DOM.
 *
 * A file: a 48-byte little-endian header (magic "CSHC", u32 format, nseries,
 * nrows, nstats, reserved; f64 start, step, through), then per series, per
 * stat, nrows float32: taken as Float32Array views, never parsed. NaN is a
 * gap; so is a missing chunk.
 */

const FORMAT = 1;
const MAGIC = 0x43485343; // "CSHC" read as a little-endian u32
const HEADER_BYTES = 48;

function fail(what, why) { throw new Error("history " + what + ": " + why); }

const isInt = (x) => Number.isInteger(x);
const isName = (x) => typeof x === "string" && /^[0-9a-z]+$/.test(x);

function checkTier(t, i) {
  const what = "index.json tiers[" + i + "]";
  if (!t || typeof t !== "object" || !isName(t.name)) fail(what, "no valid name");
  for (const k of ["step_s", "span_s", "chunk_s", "rows"]) {
    if (!isInt(t[k]) || t[k] < 1) fail(what, k + " is not a positive integer");
  }
  if (t.chunk_s !== t.rows * t.step_s) fail(what, "chunk_s is not rows * step_s");
  if (!Array.isArray(t.stats) || ![1, 3].includes(t.stats.length)) fail(what, "stats must hold 1 or 3 names");
  if (t.dir !== t.name + "/" || t.tail !== "tail-" + t.name + ".bin") fail(what, "unexpected file names");
  for (const k of ["oldest", "newest"]) {
    if (t[k] !== null && (!isInt(t[k]) || t[k] % t.chunk_s !== 0)) fail(what, k + " is not a chunk start");
  }
  if ((t.oldest === null) !== (t.newest === null) || t.newest < t.oldest) fail(what, "oldest/newest disagree");
}

/* A history request that hangs must not leave the Trends "Loading…" for ever:
   it fails (the index, the events) or becomes a gap (a chunk). */
export const FETCH_TIMEOUT_MS = 10000;

/* The index, fetched and checked; throws an Error saying what is wrong. */
export async function openIndex(url) {
  const response = await fetch(url, {
    cache: "no-cache", credentials: "same-origin", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  if (!response.ok) fail("index.json", "HTTP " + response.status);
  const index = await response.json();
  if (!index || index.format !== FORMAT) fail("index.json", "format " + (index && index.format) + " is not " + FORMAT);
  if (!Array.isArray(index.series) || !index.series.length || !index.series.every((s) => typeof s === "string")) {
    fail("index.json", "series must be a list of names");
  }
  if (!isInt(index.generation) || index.header_bytes !== HEADER_BYTES) fail("index.json", "unexpected header");
  if (!Array.isArray(index.tiers) || !index.tiers.length) fail("index.json", "no tiers");
  index.tiers.forEach(checkTier);
  for (let i = 1; i < index.tiers.length; i++) {
    if (index.tiers[i].step_s <= index.tiers[i - 1].step_s) fail("index.json", "tiers are not finest first");
  }
  if (!Array.isArray(index.sources) || !index.sources.every((s) => s && isInt(s.slot) && typeof s.address === "string")) {
    fail("index.json", "sources must be {slot, address}");
  }
  return index;
}

/* The finest tier whose buckets over [since, until] are at most maxPoints
   and whose span still reaches back to `since`; else the coarsest. */
function pickTier(index, since, until, maxPoints) {
  const now = Date.now() / 1000;
  for (const tier of index.tiers) {
    const points = Math.floor(until / tier.step_s) - Math.floor(since / tier.step_s) + 1;
    if (points <= maxPoints && since >= now - tier.span_s) return tier;
  }
  return index.tiers[index.tiers.length - 1];
}

/* One published file -> {start, step, through, nrows, nstats, data}, or
   throws when it is not one of this index's tier's files. */
function readFile(buffer, index, tier, what) {
  if (buffer.byteLength < HEADER_BYTES) fail(what, "shorter than its header");
  const v = new DataView(buffer);
  const nseries = v.getUint32(8, true), nrows = v.getUint32(12, true), nstats = v.getUint32(16, true);
  if (v.getUint32(0, true) !== MAGIC || v.getUint32(4, true) !== FORMAT) fail(what, "not a format " + FORMAT + " file");
  if (nseries !== index.series.length || nstats !== tier.stats.length) fail(what, "other series or stats than the index");
  if (buffer.byteLength !== HEADER_BYTES + 4 * nseries * nstats * nrows) fail(what, "truncated");
  const start = v.getFloat64(24, true), step = v.getFloat64(32, true), through = v.getFloat64(40, true);
  if (step !== tier.step_s || start % step !== 0) fail(what, "other buckets than the index");
  return { start, step, through, nrows, nstats, data: new Float32Array(buffer, HEADER_BYTES, nseries * nstats * nrows) };
}

/* A file, or null: a gap. A file that cannot be fetched or read is a gap
   too, its reason added to `problems`; one bad chunk never costs the window. */
async function fetchFile(url, index, tier, what, problems) {
  try {
    const response = await fetch(url, { credentials: "same-origin", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (response.status === 404) return null; // not there (yet, or any more)
    if (!response.ok) fail(what, "HTTP " + response.status);
    return readFile(await response.arrayBuffer(), index, tier, what);
  } catch (e) {
    problems.push(e.message || String(e));
    return null;
  }
}

/* What extend() needs beyond the window's public fields. */
const state = new WeakMap();

function floorTo(x, step) { return Math.floor(x / step) * step; }

/* The window [since, until] of the tier pickTier() chooses, as regular
   buckets (a gap is a NaN row): {tier, step_s, since, until, t, series,
   cols: {name: {min, mean, max}}, sources: [{slot, label}], problems}. For
   the 1 s tier min, mean and max are the same array; `problems` lists the
   files that could not be read (shown as gaps). */
export async function loadWindow(index, baseUrl, since, until, maxPoints) {
  if (!(until > since)) fail("window", "until must be after since");
  const tier = pickTier(index, since, until, maxPoints);
  const step = tier.step_s, chunk = tier.chunk_s;
  const b0 = floorTo(since, step), b1 = floorTo(until, step);
  const n = (b1 - b0) / step + 1;
  const win = {
    tier: tier.name, step_s: step, since, until,
    t: new Float64Array(n), series: index.series.slice(), cols: {},
    sources: index.sources.map((s) => ({ slot: s.slot, label: s.address })),
    problems: [],
  };
  for (let i = 0; i < n; i++) win.t[i] = b0 + i * step;
  const arrays = [];
  for (const name of win.series) {
    if (tier.stats.length === 1) {
      const a = new Float32Array(n).fill(NaN);
      win.cols[name] = { min: a, mean: a, max: a };
      arrays.push([a]);
    } else {
      const c = { min: new Float32Array(n).fill(NaN), mean: new Float32Array(n).fill(NaN), max: new Float32Array(n).fill(NaN) };
      win.cols[name] = c;
      arrays.push([c.min, c.mean, c.max]);
    }
  }

  const base = new URL(baseUrl, globalThis.document ? document.baseURI : globalThis.location?.href);
  const jobs = [];
  const get = (name, t, query) => fetchFile(new URL(name + query, base), index, t, name, win.problems);
  const chunkAt = (c) => get(tier.dir + c + ".bin", tier, "?g=" + index.generation);
  if (tier.oldest !== null) {
    for (let c = Math.max(floorTo(b0, chunk), tier.oldest); c <= Math.min(b1, tier.newest); c += chunk) jobs.push(chunkAt(c));
  }
  const current = tier.newest === null || b1 >= tier.newest + chunk; // the window reaches the tail
  const finest = index.tiers[0];
  jobs.push(current ? get(tier.tail, tier, "") : null);
  jobs.push(current && finest !== tier ? get(finest.tail, finest, "") : null);
  const files = await Promise.all(jobs);
  const recent = files.pop(), tail = files.pop();
  if (tail && tier.newest !== null) { // chunks completed since the index was read
    const late = [];
    for (let c = Math.max(tier.newest + chunk, floorTo(b0, chunk)); c < tail.start && c <= b1; c += chunk) {
      late.push(chunkAt(c));
    }
    files.push(...(await Promise.all(late)));
  }

  let through = b0 - 1;
  for (const f of files.concat([tail])) {
    if (!f) continue;
    through = Math.max(through, f.through);
    const first = (f.start - b0) / step; // window index of the file's row 0
    const i0 = Math.max(0, -first), i1 = Math.min(f.nrows, n - first);
    if (i1 <= i0) continue;
    arrays.forEach((dst, s) => {
      for (let k = 0; k < dst.length; k++) {
        const at = (s * f.nstats + k) * f.nrows;
        dst[k].set(f.data.subarray(at + i0, at + i1), first + i0);
      }
    });
  }
  // the bucket holding `through` goes on growing: how many seconds it holds
  // (exact at one tick a second) weights the new values in its mean
  const counts = new Float64Array(win.series.length);
  const j = (floorTo(through, step) - b0) / step;
  if (step > 1 && j >= 0 && j < n) {
    const held = Math.min(step, through - floorTo(through, step) + 1);
    arrays.forEach((dst, s) => { counts[s] = dst[1][j] === dst[1][j] ? held : 0; });
  }
  state.set(win, { through, counts, arrays, length: b1 - b0 });
  if (recent) { // the 1 s rows the coarse tail has not folded in yet
    for (let i = 0; i < recent.nrows; i++) {
      fold(win, recent.start + i, (s) => recent.data[s * recent.nrows + i]);
    }
  }
  return win;
}

/* Move the window k buckets later: the oldest drop off the front, new
   buckets (gaps until filled) at the end. Arrays keep their identity. */
function shift(win, st, k) {
  const t = win.t, n = t.length, step = win.step_s;
  const last = t[n - 1];
  const keep = Math.max(0, n - k);
  t.copyWithin(0, n - keep);
  for (let i = keep; i < n; i++) t[i] = last + (i - n + 1 + k) * step;
  for (const dst of st.arrays) {
    for (const a of dst) {
      a.copyWithin(0, n - keep);
      a.fill(NaN, keep);
    }
  }
  win.since += k * step;
  win.until = win.since + st.length;
}

/* One 1 s row (get(s): series s's value, NaN = none) at `position`. */
function fold(win, position, get) {
  const st = state.get(win);
  if (!st || !(position > st.through)) return false; // already in the window
  const step = win.step_s, t = win.t, n = t.length;
  const b = floorTo(position, step);
  if (b !== floorTo(st.through, step)) st.counts.fill(0);
  st.through = position;
  let changed = false;
  if (b > t[n - 1]) {
    shift(win, st, (b - t[n - 1]) / step);
    changed = true;
  }
  const j = (b - t[0]) / step;
  if (j < 0) return false;
  st.arrays.forEach((dst, s) => {
    const v = get(s);
    if (v !== v) return;
    changed = true;
    if (dst.length === 1) { dst[0][j] = v; return; }
    const c = st.counts[s], [lo, mean, hi] = dst;
    if (c === 0 || mean[j] !== mean[j]) {
      lo[j] = mean[j] = hi[j] = v;
      st.counts[s] = 1;
      return;
    }
    if (v < lo[j]) lo[j] = v;
    if (v > hi[j]) hi[j] = v;
    mean[j] += (v - mean[j]) / (c + 1);
    st.counts[s] = c + 1;
  });
  return changed;
}

/* data.json's history.position and history.row (aligned with index.json's
   series, null = none): set in the 1 s tier, folded into the bucket in
   progress of a coarser one; a new bucket slides the window. True if the
   window changed. */
export function extend(win, position, row) {
  if (!Array.isArray(row) || row.length !== win.series.length || !Number.isFinite(position)) return false;
  return fold(win, position, (s) => (typeof row[s] === "number" ? row[s] : NaN));
}
