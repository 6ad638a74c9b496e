/**
 * The worker behind {@linkcode WorkerHasher}: sha256 of several streams at
 * once, each fed in order by id. Messages in: `{id, bytes}` (more bytes),
 * `{id, done: true}` (answer the digest and forget it), `{id, drop: true}`
 * (forget it). Messages out: `{id, ack: n}` after each batch, `{id, hex}`.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";

type In = { id: number; bytes?: Uint8Array; done?: boolean; drop?: boolean };

const hashes = new Map<number, Hash>();
// The worker's global scope (typed by hand: this module is checked with the window types).
const scope = self as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<In>) => void) | null;
};

scope.onmessage = (event: MessageEvent<In>) => {
  const { id, bytes, done, drop } = event.data;
  if (drop) {
    hashes.delete(id);
    return;
  }
  let hash = hashes.get(id);
  if (!hash) hashes.set(id, hash = createHash("sha256"));
  if (bytes) {
    hash.update(bytes);
    scope.postMessage({ id, ack: bytes.byteLength });
  }
  if (done) {
    hashes.delete(id);
    scope.postMessage({ id, hex: hash.digest("hex") });
  }
};
