import { RoamError } from "../errors/mod.ts";
import type { Message } from "./sdk/mod.ts";

/** Highest message priority. */
export const MAX_PRIORITY = 10;
/** Priority of a message that gives none. */
export const DEFAULT_PRIORITY = 5;
/** The priority that bypasses the queue: such a message runs at once, beside any other. */
export const UNQUEUED = 0;

/** A message waiting in a mailbox, with the promise of its reply. */
export interface Letter {
  /** The message. */
  message: Message;
  /** How long its handler may run. */
  timeoutMs: number;
  /** Settle the sender's promise. */
  resolve: (value: unknown) => void;
  /** Fail the sender's promise. */
  reject: (error: unknown) => void;
}

/** Runs one message and returns its reply. */
export type Deliver = (message: Message, timeoutMs: number) => Promise<unknown>;

/** Options for {@linkcode Mailbox}. */
export interface MailboxOptions {
  /** Most messages waiting at once; a send beyond it fails with `queue_full`. */
  capacity: number;
}

/**
 * A per-agent queue that hands messages to one handler at a time, highest
 * priority first and first-in-first-out within a priority. Priority 0 skips
 * the queue and runs at once.
 */
export class Mailbox {
  readonly #deliver: Deliver;
  readonly #capacity: number;
  // One FIFO per priority 1..10; index = priority.
  readonly #queues: Letter[][] = Array.from({ length: MAX_PRIORITY + 1 }, () => []);
  #size = 0;
  #busy = false;
  #paused = false;

  /** Make a mailbox that hands messages to `deliver`. */
  constructor(deliver: Deliver, options: MailboxOptions) {
    this.#deliver = deliver;
    this.#capacity = options.capacity;
  }

  /** Messages waiting (not counting the one being handled). */
  get size(): number {
    return this.#size;
  }

  /** Whether a queued message is being handled now. */
  get busy(): boolean {
    return this.#busy;
  }

  /** Queue a message; resolves with its reply. */
  send(message: Message, timeoutMs: number): Promise<unknown> {
    if (message.priority === UNQUEUED) return this.#deliver(message, timeoutMs);
    if (this.#size >= this.#capacity) {
      return Promise.reject(
        new RoamError(
          "queue_full",
          `the mailbox is full (${this.#capacity} messages waiting); try again later or raise its capacity`,
          { capacity: this.#capacity },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const priority = Math.min(MAX_PRIORITY, Math.max(1, Math.round(message.priority)));
      this.#queues[priority].push({ message, timeoutMs, resolve, reject });
      this.#size++;
      this.#pump();
    });
  }

  /** Stop handing out messages (the one in progress finishes). */
  pause(): void {
    this.#paused = true;
  }

  /** Hand out messages again. */
  resume(): void {
    this.#paused = false;
    this.#pump();
  }

  /** Wait until no queued message is being handled. */
  async idle(): Promise<void> {
    while (this.#busy) await new Promise<void>((resolve) => this.#onIdle.push(resolve));
  }

  /** Take every waiting message out, in the order they would have run. */
  drain(): Letter[] {
    const out: Letter[] = [];
    for (let p = MAX_PRIORITY; p >= 1; p--) out.push(...this.#queues[p].splice(0));
    this.#size = 0;
    return out;
  }

  /** Fail every waiting message with `error`. */
  fail(error: unknown): void {
    for (const letter of this.drain()) letter.reject(error);
  }

  readonly #onIdle: (() => void)[] = [];

  #next(): Letter | undefined {
    for (let p = MAX_PRIORITY; p >= 1; p--) {
      const letter = this.#queues[p].shift();
      if (letter) {
        this.#size--;
        return letter;
      }
    }
    return undefined;
  }

  #pump() {
    if (this.#busy || this.#paused) return;
    const letter = this.#next();
    if (!letter) return;
    this.#busy = true;
    this.#deliver(letter.message, letter.timeoutMs).then(letter.resolve, letter.reject).finally(
      () => {
        this.#busy = false;
        for (const fn of this.#onIdle.splice(0)) fn();
        this.#pump();
      },
    );
  }
}
