/* DOM helpers. Values reach the DOM as text or attributes only, never as
 * markup; the setters skip writes that change nothing, so an unchanged card
 * or panel is not touched (no style recalculation, no mutation record).
 */

export const root = document.documentElement;

export function byId(id) { return document.getElementById(id); }

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

export function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
export function setAttr(node, name, value) { if (node.getAttribute(name) !== value) node.setAttribute(name, value); }
export function setHidden(node, hidden) { if (node.hidden !== hidden) node.hidden = hidden; }

/* cb(now) once the next frame has been painted (a task after the frame) */
export function afterPaint(cb) {
  requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => cb(performance.now());
    channel.port2.postMessage(0);
  });
}
