import { createHash } from "node:crypto";

/** One stream's sha256, fed in order, read once at the end. */
export interface StreamHash {
  /** Add bytes (copied or hashed before this returns; the caller may reuse the buffer). */
  update(bytes: Uint8Array): Promise<void>;
  /** The hex digest of everything added. */
  digest(): Promise<string>;
  /** Give up on it (an upload that failed). */
  drop(): void;
}

/** sha256 on the calling thread (small blobs: no worker round trips). */
export function localHash(): StreamHash {
  const hash = createHash("sha256");
  return {
    update: (bytes) => {
      hash.update(bytes);
      return Promise.resolve();
    },
    digest: () => Promise.resolve(hash.digest("hex")),
    drop: () => {},
  };
}

/** Batches of bytes a stream may have waiting in the worker before `update` waits. */
const MAX_QUEUED = 8;

/**
 * sha256 in one shared worker, so that hashing a large upload runs beside
 * the main thread (which reads the socket and schedules the disk writes)
 * instead of between its steps. Started on first use, stopped by `close`.
 * Each batch is copied into the worker (a memcpy, far cheaper than the
 * hash), so the caller's buffer is free again at once.
 */
export class WorkerHasher {
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #streams = new Map<number, {
    queued: number;
    wake: (() => void) | undefined;
    done: ((hex: string) => void) | undefined;
  }>();

  /** A new stream's hash. */
  open(): StreamHash {
    const worker = this.#start();
    const id = this.#nextId++;
    const state = {
      queued: 0,
      wake: undefined as (() => void) | undefined,
      done: undefined as ((hex: string) => void) | undefined,
    };
    this.#streams.set(id, state);
    return {
      update: async (bytes) => {
        while (state.queued >= MAX_QUEUED) {
          await new Promise<void>((resolve) => state.wake = resolve);
        }
        state.queued++;
        worker.postMessage({ id, bytes });
      },
      digest: () =>
        new Promise<string>((resolve) => {
          state.done = (hex) => {
            this.#streams.delete(id);
            resolve(hex);
          };
          worker.postMessage({ id, done: true });
        }),
      drop: () => {
        this.#streams.delete(id);
        worker.postMessage({ id, drop: true });
      },
    };
  }

  /** Stop the worker (streams in progress never finish). */
  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    for (const state of this.#streams.values()) state.wake?.();
    this.#streams.clear();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./hash_worker.ts", import.meta.url), {
      type: "module",
      deno: {
        permissions: {
          read: false,
          write: false,
          net: false,
          env: false,
          run: false,
          ffi: false,
          sys: false,
          import: false,
        },
      },
    });
    worker.onmessage = (event: MessageEvent<{ id: number; ack?: number; hex?: string }>) => {
      const state = this.#streams.get(event.data.id);
      if (!state) return;
      if (event.data.ack !== undefined) {
        state.queued--;
        const wake = state.wake;
        state.wake = undefined;
        wake?.();
      }
      if (event.data.hex !== undefined) state.done?.(event.data.hex);
    };
    this.#worker = worker;
    return worker;
  }
}
