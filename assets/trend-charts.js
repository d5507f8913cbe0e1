/* The Trends charts: which history series each one draws, with what unit
 * and colour, and the uPlot options that draw them (vendor/uplot). Colours
 * come from the page's CSS variables, so the charts follow the theme; a
 * theme change makes them anew.
 */
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { el, setAttr, setText } from "./dom.js";
import { STATUS_WORD, formatClock, formatDate, formatDateTime, formatPerSecond, formatPpmTrend, formatSeconds, significant } from "./format.js";

const count = (x) => x !== x ? "–" : significant(x);
const offset = (x) => formatSeconds(x, true);

/* the charts, in page order. series: [history series, label, CSS colour,
   format, scale]; band: min/max drawn as a band on the coarse tiers;
   whole: the y axis counts (no ticks between whole numbers) */
export const CHARTS = [
  { id: "offset", title: "Offset and max clock error", band: true, series: [
    ["system_time_s", "Offset", "--accent", offset],
    ["max_clock_error_s", "Max clock error", "--crit", formatSeconds]] },
  { id: "frequency", title: "Frequency and skew", series: [
    ["frequency_ppm", "Frequency", "--accent", formatPpmTrend],
    ["skew_ppm", "Skew", "--warn", formatPpmTrend, "skew"]] },
  { id: "root", title: "Root delay and dispersion", series: [
    ["root_delay_s", "Root delay", "--accent", formatSeconds],
    ["root_dispersion_s", "Root dispersion", "--stale", formatSeconds]] },
  { id: "traffic", title: "NTP requests and drops per second", band: true, series: [
    ["ntp_packets_received_pps", "Requests", "--accent", formatPerSecond],
    ["ntp_packets_dropped_pps", "Drops", "--crit", formatPerSecond]] },
  { id: "population", title: "Clients by status", whole: true, series: [
    ["ok", STATUS_WORD.ok, "--ok", count],
    ["warning", STATUS_WORD.warning, "--warn", count],
    ["critical", STATUS_WORD.critical, "--crit", count]] },
  { id: "sources", title: "Source offsets", sources: true, series: [] },
];

const SOURCE_COLOURS = ["--accent", "--stale", "--warn", "--ok"];

/* the k-th line of a chart is drawn in the k-th style, [canvas dash, CSS
   border style] for its swatch in the read-out: colour is not the only cue */
const LINES = [[null, "solid"], [[6, 3], "dashed"], [[1.5, 2.5], "dotted"], [[9, 3, 2, 3], "double"]];

/* a chart's series for this window: the sources chart has one per source
   (colours shifted every 4 sources, so that no two share colour and style) */
export function seriesOf(chart, win) {
  if (!chart.sources) return chart.series.filter((s) => win.cols[s[0]]);
  const colour = (k) => SOURCE_COLOURS[(k + Math.floor(k / 4)) % 4];
  return (win.sources || []).filter((src) => win.cols[`source${src.slot}_offset_s`])
    .map((src, k) => [`source${src.slot}_offset_s`, String(src.label), colour(k), offset]);
}

/* a CSS variable resolved to a colour the canvas understands (light-dark()
   in a custom property is only resolved where it is used) */
const probe = document.createElement("span");
probe.hidden = true;
export function themeColours() {
  document.body.append(probe);
  const get = (name) => { probe.style.color = `var(${name})`; return getComputedStyle(probe).color; };
  const colours = { text: get("--muted"), line: get("--line"), event: get("--text") };
  for (const name of ["--accent", "--crit", "--warn", "--ok", "--stale"]) colours[name] = get(name);
  probe.remove();
  return colours;
}

function translucent(rgb, alpha) { return rgb.replace(/^rgb\((.*)\)$/, `rgba($1, ${alpha})`); }

/* one plot: layout = {series: [[name, label, colour, format, scale]], bands, coarse, whole},
   view = the shared state trends.js keeps (x range, events, handlers) */
export function makePlot(target, layout, data, size, colours, view) {
  const axis = (scale, side, format) => ({
    scale, side, stroke: colours.text, size: labelWidth, incrs: layout.whole ? WHOLE : undefined,
    grid: { show: side === 3, stroke: colours.line, width: 1 },
    ticks: { stroke: colours.line, width: 1 },
    values: (u, splits) => splits.map(format),
  });
  const series = [{}], axes = [{ stroke: colours.text, size: 42, values: timeLabels,
    grid: { stroke: colours.line, width: 1 }, ticks: { stroke: colours.line, width: 1 } }];
  const bands = [];
  const scales = { x: { time: true, range: () => [view.since, view.until] } };
  layout.series.forEach(([, label, colour, format, scale], k) => {
    const y = scale || "y", dash = LINES[k % LINES.length][0];
    if (!scales[y]) {
      scales[y] = {};
      axes.push(axis(y, y === "y" ? 3 : 1, format));
    }
    series.push({ label, scale: y, stroke: colours[colour], width: 1.5, dash: dash && dash.map((d) => d * uPlot.pxRatio),
      points: { show: false }, spanGaps: false });
  });
  if (layout.bands) {
    for (const [, label, colour, , scale] of layout.series) {
      // the edges drawn thin, so that a one-bucket spike still shows as a line
      const at = series.length, edge = (name) => ({ label: label + name, scale: scale || "y",
        stroke: translucent(colours[colour], 0.45), width: 1, points: { show: false }, spanGaps: false });
      series.push(edge(" min"), edge(" max"));
      bands.push({ series: [at + 1, at], fill: translucent(colours[colour], 0.22) });
    }
  }
  return new uPlot({
    width: size.width, height: size.height, series, axes, scales, bands,
    legend: { show: false },
    cursor: { sync: { key: "trends" }, drag: { x: true, y: false, setScale: false }, points: { show: false } },
    hooks: {
      setCursor: [(u) => view.onCursor(u)],
      setSelect: [(u) => view.onSelect(u)],
      draw: [(u) => drawEvents(u, view.events, colours.event)],
    },
  }, data, target);
}

const WHOLE = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6].map((p) => m * p)).sort((a, b) => a - b);

/* a y axis as wide as its longest label */
const measured = new Map(); // font + label -> width: every redraw asks again

function labelWidth(u, values, axisIdx) {
  if (!values) return 48;
  const font = u.axes[axisIdx].font[0];
  let widest = 0;
  for (const v of values) {
    const key = font + "\0" + v;
    let w = measured.get(key);
    if (w === undefined) {
      if (measured.size > 5000) measured.clear();
      u.ctx.font = font;
      measured.set(key, w = u.ctx.measureText(v).width);
    }
    if (w > widest) widest = w;
  }
  return Math.ceil(widest / uPlot.pxRatio) + 16;
}

/* x labels in the page's 24 h clock; the date under the first label of each day */
function timeLabels(u, splits, axisIdx, space, incr) {
  let day = "";
  return splits.map((t) => {
    const ms = t * 1000, date = formatDate(ms).slice(5), newDay = date !== day;
    day = date;
    if (incr >= 86400) return date;
    const clock = formatClock(ms, incr < 60);
    return newDay ? clock + "\n" + date : clock;
  });
}

/* events as dashed vertical lines over the plot; how many were drawn is
   kept on the plot (the tests read it) */
function drawEvents(u, events, colour) {
  const { ctx } = u, { left, top, width, height } = u.bbox, [min, max] = [u.scales.x.min, u.scales.x.max];
  const dpr = uPlot.pxRatio;
  let drawn = 0;
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.lineWidth = dpr;
  ctx.setLineDash([4 * dpr, 3 * dpr]);
  ctx.beginPath();
  for (const e of events) {
    if (e.t < min || e.t > max) continue;
    const x = Math.round(u.valToPos(e.t, "x", true)) + 0.5;
    if (x < left || x > left + width) continue;
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    drawn++;
  }
  ctx.stroke();
  ctx.restore();
  u.eventsDrawn = drawn;
}

/* the read-out under a chart, made once per layout: the time, then for each
   series its key (a swatch in the line's colour and style, hidden from
   screen readers, and its name) and its value. Returns what readout() fills */
export function makeReadout(target, layout) {
  const time = el("span"), values = [], parts = [time];
  layout.series.forEach(([, label, colour], k) => {
    const swatch = el("span", "sw " + LINES[k % LINES.length][1]), value = el("span");
    setAttr(swatch, "aria-hidden", "true");
    swatch.style.borderTopColor = `var(${colour})`;
    const name = el("span", "tkey");
    name.append(swatch, label + " ");
    parts.push(" · ", name, value);
    values.push(value);
  });
  target.replaceChildren(...parts);
  return { time, values };
}

/* row i in the read-out: the time and each series' value with its unit (on
   a coarse tier: the bucket's mean, min and max); no row: dashes */
export function readout(read, layout, win, i, prefix = "") {
  setText(read.time, i == null ? prefix + "–" : prefix + formatDateTime(win.t[i] * 1000));
  layout.series.forEach(([name, , , format], k) => {
    const col = win.cols[name], mean = i == null ? NaN : col.mean[i];
    let text = format(mean);
    if (layout.coarse && mean === mean) text += " (" + format(col.min[i]) + " to " + format(col.max[i]) + ")";
    setText(read.values[k], text);
  });
}
