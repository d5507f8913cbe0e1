/* Pure numbers over a history window (history-data.js): what uPlot draws,
 * the text summaries, the offset's percentiles and the table alternative.
 * A gap is NaN in the window and null for uPlot (spanGaps off: a gap stays
 * a gap, never a line across it).
 */

/* values[from..to) as a plain array with null for NaN (uPlot's gap) */
export function plotValues(values, from, to) {
  const out = new Array(to - from);
  for (let i = from; i < to; i++) {
    const v = values[i];
    out[i - from] = v === v ? v : null;
  }
  return out;
}

/* the finite values of values[from..to), sorted ascending */
export function sortedFinite(values, from, to) {
  const out = new Float64Array(to - from);
  let n = 0;
  for (let i = from; i < to; i++) {
    const v = values[i];
    if (v === v) out[n++] = v;
  }
  return out.subarray(0, n).sort();
}

/* the p-th percentile (0..100) of sorted values, interpolated between ranks
   as numpy does by default; NaN when there is none */
function percentile(sorted, p) {
  const n = sorted.length;
  if (!n) return NaN;
  const rank = (p / 100) * (n - 1), lo = Math.floor(rank), hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/* ntpviz's offset percentiles */
export const PERCENTILES = [1, 5, 50, 95, 99];

export function percentiles(sorted) { return PERCENTILES.map((p) => percentile(sorted, p)); }

/* min / median / max of a series over [from, to): the lows of the min
   column, the median of the means, the highs of the max column (on the 1 s
   tier the three are the same array); n = how many points hold a value */
export function summarise(col, from, to) {
  const means = sortedFinite(col.mean, from, to);
  if (!means.length) return { n: 0, min: NaN, median: NaN, max: NaN };
  let min = Infinity, max = -Infinity;
  for (let i = from; i < to; i++) {
    const lo = col.min[i], hi = col.max[i];
    if (lo < min) min = lo;
    if (hi > max) max = hi;
  }
  return { n: means.length, min, median: percentile(means, 50), max };
}

/* the row indexes a table alternative shows: at most `limit`, evenly spaced,
   the last row always included */
export function tableRows(from, to, limit) {
  const n = to - from;
  if (n <= 0) return [];
  const stride = Math.ceil(n / limit), rows = [];
  for (let i = to - 1; i >= from && rows.length < limit; i -= stride) rows.push(i);
  return rows.reverse();
}
