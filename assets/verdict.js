/* The health verdict at the top of the page: data.json's `health` (computed
 * by the engine, chrony_snap/health.py) as a word, a colour and an icon, and
 * its reasons in plain language. Redrawn only when it changes.
 */
import { byId, el, setAttr, setText } from "./dom.js";

// status -> [icon, word, what it means]; never colour alone
const STATUS = {
  ok: ["✓", "Healthy", "chronyd is synchronised and serving time."],
  degraded: ["!", "Degraded", "chronyd serves time, but something needs attention."],
  critical: ["✕", "Critical", "Clients may be getting wrong time, or none."],
  unknown: ["?", "Unknown", "Part of chronyd's state could not be read."],
};
const SEVERITY = { critical: ["✕", "Critical"], unknown: ["?", "Unknown"], degraded: ["!", "Degraded"], info: ["i", "Note"] };
let shown = null;

function reasonItem(r) {
  const [icon, word] = SEVERITY[r.severity] || SEVERITY.unknown;
  const li = el("li", "r-" + (SEVERITY[r.severity] ? r.severity : "unknown"));
  const mark = el("span", "v-ico small-ico", icon);
  mark.setAttribute("aria-hidden", "true");
  li.append(mark, el("strong", null, word + ": "), el("span", null, String(r.message)),
            el("code", "v-code", String(r.code)));
  return li;
}

/* health: data.json's health ({status, reasons}), or undefined from an engine without it */
export function renderVerdict(health) {
  const json = JSON.stringify(health === undefined ? null : health);
  if (json === shown) return;
  shown = json;
  const known = !!health && typeof health === "object" && Object.hasOwn(STATUS, health.status);
  const status = known ? health.status : "unknown";
  const [icon, word, meaning] = STATUS[status];
  const reasons = known && Array.isArray(health.reasons) ? health.reasons.filter((r) => r && typeof r === "object") : [];
  setAttr(byId("verdict"), "class", "verdict v-" + status);
  setAttr(byId("verdict"), "data-status", status);
  setText(byId("verdict-ico"), icon);
  setText(byId("verdict-word"), word);
  setText(byId("verdict-meaning"), known ? meaning : "This snapshot carries no health verdict.");
  byId("verdict-reasons").replaceChildren(...reasons.map(reasonItem));
}
