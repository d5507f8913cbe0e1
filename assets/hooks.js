/* window.chronySnap: what the browser tests and bench/browser_bench.py read
 * (per-refresh and per-keystroke timings, poll and error counts; poll.js adds
 * its state). Bounded: nothing accumulates.
 */

export const hooks = window.chronySnap = { perf: [], search: [], polls: 0, errors: 0 };

export function record(list, item) {
  list.push(item);
  if (list.length > 100) list.shift();
}

/* a trace mark for the bench, cleared at once */
export function mark(name) {
  performance.mark(name);
  performance.clearMarks(name);
}
