/**
 * Bare workers for the floors of the agent benches: a worker of the least
 * module that answers (`fixtures/bare_worker.ts`), started with every
 * permission denied, as roam starts agent workers.
 *
 * @module
 */

/** Worker permissions with everything denied (workers inherit the parent's when none are given). */
export const DENY_ALL: Deno.PermissionOptionsObject = {
  read: false,
  write: false,
  net: false,
  env: false,
  run: false,
  ffi: false,
  sys: false,
  import: false,
};

/** The bare worker module. */
export const BARE_WORKER_MODULE: URL = new URL("./fixtures/bare_worker.ts", import.meta.url);

/** A message from a bare worker. */
export interface WorkerReply {
  /** What the worker answered. */
  v?: unknown;
  /** `"ping"` when it asks its parent to relay a volley's ping. */
  op?: string;
}

/** A bare worker that answers one request at a time. */
export class BareWorker {
  readonly #worker: Worker;
  #waiting: { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void } | undefined;
  #onPing: ((v: number) => void) | undefined;
  #error: Error | undefined;

  /** Spawn the worker (it loads its module in the background). */
  constructor() {
    this.#worker = new Worker(BARE_WORKER_MODULE, {
      type: "module",
      deno: { permissions: DENY_ALL },
    });
    this.#worker.onmessage = ({ data }: MessageEvent<WorkerReply>) => {
      if (data.op === "ping") this.#onPing?.(data.v as number);
      else this.#settle()?.resolve(data);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#error = new Error(`a bare worker failed: ${event.message}`);
      this.#settle()?.reject(this.#error);
    };
  }

  /** Post a message that needs no answer. */
  post(message: unknown): void {
    this.#worker.postMessage(message);
  }

  /** Post a message and wait for the worker's answer. */
  request(message: unknown): Promise<WorkerReply> {
    if (this.#error) return Promise.reject(this.#error);
    const { promise, resolve, reject } = Promise.withResolvers<WorkerReply>();
    this.#waiting = { resolve, reject };
    this.#worker.postMessage(message);
    return promise;
  }

  /** Relay this worker's volley pings to `peer` and its answers back here as pongs. */
  relayTo(peer: BareWorker): void {
    this.#onPing = (v) => {
      peer.request({ op: "echo", v }).then(
        (reply) => this.post({ op: "pong", v: reply.v }),
        (error) => this.#settle()?.reject(error),
      );
    };
  }

  /** Stop the worker. */
  terminate(): void {
    this.#worker.terminate();
    this.#settle()?.reject(new Error("the bare worker was stopped"));
  }

  #settle() {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    return waiting;
  }
}
