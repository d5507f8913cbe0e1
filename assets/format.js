/* How numbers, durations and times read on the page. NaN (unknown) is "–". */

const integer = new Intl.NumberFormat("en-US");

export function formatInt(n) { return n !== n ? "–" : integer.format(n); }

export function formatRate(x) {
  if (x !== x) return "–";
  if (x === 0) return "0/s";
  if (x >= 1000) return integer.format(Math.round(x)) + "/s";
  if (x >= 10) return (+x.toFixed(1)) + "/s";
  if (x >= 0.1) return (+x.toFixed(2)) + "/s";
  return (+x.toFixed(3)) + "/s";
}

const UNITS = [[31536000, "y"], [86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];

/* 0.03125 -> "31 ms", 75 -> "1 min 15 s", 90061 -> "1 d 1 h" */
export function formatDuration(s) {
  if (s !== s) return "–";
  if (s < 1) {
    const ms = s * 1000;
    return (ms < 10 ? +ms.toFixed(2) : Math.round(ms)) + " ms";
  }
  if (s < 60) return (s < 10 && s % 1 ? +s.toFixed(1) : Math.round(s)) + " s";
  s = Math.round(s);
  for (let k = 0; k < UNITS.length - 1; k++) {
    const [unit, name] = UNITS[k];
    if (s >= unit) {
      const whole = Math.floor(s / unit), [next, nextName] = UNITS[k + 1];
      const rest = Math.floor((s - whole * unit) / next);
      return rest ? `${whole} ${name} ${rest} ${nextName}` : `${whole} ${name}`;
    }
  }
  return s + " s";
}

export function formatAgo(s) { return s !== s ? "never" : (s < 1 ? "0 s" : formatDuration(s)) + " ago"; }

/* the precision of a measured figure: 3 significant digits (-0.003651 ->
   "-0.00365"); a whole number of 1000 or more stays whole ("12,346"), never
   rounded to "1.23e+4" */
export function significant(x) {
  const r = +x.toPrecision(3);
  return Math.abs(r) >= 1000 ? integer.format(Math.round(x)) : String(r);
}

/* small durations such as offsets and delays, in ns/µs/ms/s, 3 digits; the
   unit is chosen after rounding (999.96 ns is "1 µs", not "1000 ns") */
export function formatSeconds(x, signed) {
  if (x !== x) return "–";
  const a = +Math.abs(x).toPrecision(3);
  if (a === 0) return "0 s";
  const [v, unit] = a < 1e-6 ? [x * 1e9, "ns"] : a < 1e-3 ? [x * 1e6, "µs"] : a < 1 ? [x * 1e3, "ms"] : [x, "s"];
  return (signed && x > 0 ? "+" : "") + significant(v) + " " + unit;
}

/* the panel's ppm, to 4 digits as chronyc prints the clock's frequency */
export function formatPpm(x) { return x !== x ? "–" : (+x.toPrecision(4)) + " ppm"; }

/* the trends' ppm and rates: the 3 digits of every other trend figure */
export function formatPpmTrend(x) { return x !== x ? "–" : significant(x) + " ppm"; }

export function formatPerSecond(x) { return x !== x ? "–" : significant(x) + "/s"; }

const pad2 = (n) => String(n).padStart(2, "0");

/* local YYYY-MM-DD of a time in ms since the epoch */
export function formatDate(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}

/* local HH:MM:SS of a time in ms since the epoch (HH:MM without seconds) */
export function formatClock(ms, seconds = true) {
  if (!ms) return "–";
  const d = new Date(ms), hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return seconds ? `${hm}:${pad2(d.getSeconds())}` : hm;
}

export function formatDateTime(ms) { return formatDate(ms) + " " + formatClock(ms); }

/* a client's status (model.js STATUSES) in words */
export const STATUS_WORD = { ok: "OK", warning: "Warning", critical: "Critical" };
