/* The module worker: fetches, parses and models the snapshot off the main
 * thread (model.js), then posts the model's typed arrays (transferred, not
 * copied) and, only when they changed, its address and hostname strings.
 */
import { ADDRESS_FIELDS, COLUMNS, snapshotLoader } from "./model.js";

const loader = snapshotLoader();

/* Trim a message to what the page does not have yet, and list the buffers
   it can take over. The loader keeps the address arrays for its next
   comparison: the page gets copies of them. */
function transferable(message) {
  if (message.clientsSame) return [];
  const transfer = [message.status.buffer, message.ntsState.buffer];
  for (const name of COLUMNS) transfer.push(message.columns[name].buffer);
  for (const name of ADDRESS_FIELDS) {
    const value = message[name];
    if (!message.addressChanged) delete message[name];
    else if (ArrayBuffer.isView(value)) {
      message[name] = value.slice();
      transfer.push(message[name].buffer);
    }
  }
  if (!message.hostChanged) { delete message.hostname; delete message.hostnameLower; }
  return transfer;
}

self.onmessage = async (event) => {
  const { id, urls, timeoutMs, analytics } = event.data;
  try {
    const message = await loader.load(urls, timeoutMs, analytics);
    message.id = id;
    self.postMessage(message, transferable(message));
  } catch (e) {
    self.postMessage({ id, ok: false, kind: e.kind || "other", message: e.message || String(e) });
  }
};
