/**
 * Deadlines checked by one shared, coarse timer rather than a timer per call:
 * on the hot path (every request and every call has a time limit) starting
 * and clearing a timer each time costs more than the work itself.
 */
export class Deadlines {
  readonly #entries = new Set<{ at: number; fire: () => void }>();
  readonly #resolutionMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Deadlines fire at most `resolutionMs` late. */
  constructor(resolutionMs = 10) {
    this.#resolutionMs = resolutionMs;
  }

  /**
   * Settle as `work` settles, or reject with `expired()` when `ms` pass
   * first. `work` itself is not stopped; `expired` is the place to abort it.
   */
  race<T>(work: Promise<T>, ms: number, expired: () => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = { at: performance.now() + ms, fire: () => reject(expired()) };
      this.#entries.add(entry);
      this.#arm();
      work.then(
        (value) => {
          this.#entries.delete(entry);
          resolve(value);
        },
        (error) => {
          this.#entries.delete(entry);
          reject(error);
        },
      );
    });
  }

  #arm() {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => this.#sweep(), this.#resolutionMs);
    // The work being timed keeps the process alive, not its deadline.
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  #sweep() {
    this.#timer = undefined;
    const now = performance.now();
    for (const entry of this.#entries) {
      if (entry.at > now) continue;
      this.#entries.delete(entry);
      entry.fire();
    }
    if (this.#entries.size > 0) this.#arm();
  }
}

/** The deadlines of every request and call in this process. */
export const deadlines: Deadlines = new Deadlines();
