/** Options for {@linkcode ReplayGuard}. */
export interface ReplayGuardOptions {
  /** How many counters below the highest seen are still accepted once (out-of-order packets). */
  window?: number;
  /** Most a packet's timestamp may differ from this host's clock, ms. */
  maxSkewMs: number;
  /** Most senders remembered; the least recently heard is forgotten first. */
  maxSenders?: number;
}

/** What {@linkcode ReplayGuard.check} decided. */
export type ReplayVerdict = "ok" | "replayed" | "stale";

interface SenderState {
  epoch: number;
  top: number;
  /** Bit i set: counter `top - i` was seen. */
  seen: bigint;
}

/**
 * Refuses a packet seen before. Each sender numbers its packets with a
 * counter that grows within one start (its epoch); the guard keeps, per
 * sender, the highest counter and a window of those below it, so a packet is
 * accepted at most once. Packets from an older epoch are refused, and so is
 * any packet whose timestamp is outside the skew window, which bounds how
 * long a capture stays useful even to a host that has just restarted.
 *
 * Call it only for packets that authenticated: a forged packet must not move
 * the window.
 */
export class ReplayGuard {
  readonly #window: number;
  readonly #mask: bigint;
  readonly #maxSkewMs: number;
  readonly #maxSenders: number;
  readonly #senders = new Map<string, SenderState>();

  /** A guard with no senders yet. */
  constructor(options: ReplayGuardOptions) {
    this.#window = options.window ?? 256;
    this.#mask = (1n << BigInt(this.#window)) - 1n;
    this.#maxSkewMs = options.maxSkewMs;
    this.#maxSenders = options.maxSenders ?? 4096;
  }

  /** Accept (and remember) or refuse packet `counter` of `sender` in `epoch`, stamped `ts`. */
  check(
    sender: string,
    epoch: number,
    counter: number,
    ts: number,
    now = Date.now(),
  ): ReplayVerdict {
    if (Math.abs(now - ts) > this.#maxSkewMs) return "stale";
    const state = this.#senders.get(sender);
    if (!state || epoch > state.epoch) {
      this.#remember(sender, { epoch, top: counter, seen: 1n });
      return "ok";
    }
    if (epoch < state.epoch) return "replayed";
    if (counter > state.top) {
      const shift = counter - state.top;
      state.seen = shift >= this.#window ? 1n : ((state.seen << BigInt(shift)) | 1n) & this.#mask;
      state.top = counter;
    } else {
      const age = state.top - counter;
      if (age >= this.#window) return "replayed";
      const bit = 1n << BigInt(age);
      if (state.seen & bit) return "replayed";
      state.seen |= bit;
    }
    this.#remember(sender, state);
    return "ok";
  }

  /** Forget a sender (it left the mesh for good). */
  forget(sender: string): void {
    this.#senders.delete(sender);
  }

  /** How many senders are remembered. */
  get size(): number {
    return this.#senders.size;
  }

  #remember(sender: string, state: SenderState) {
    // Re-insert so that Map order is least recently heard first.
    this.#senders.delete(sender);
    this.#senders.set(sender, state);
    if (this.#senders.size > this.#maxSenders) {
      this.#senders.delete(this.#senders.keys().next().value!);
    }
  }
}
