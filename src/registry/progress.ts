/** Where an install or update stands. */
export interface Progress {
  /** The id the caller chose. */
  id: string;
  /** The plugin being worked on. */
  name: string;
  /** Its version, once resolved. */
  version?: string;
  /** What is happening now. */
  phase: "resolving" | "downloading" | "unpacking" | "installing" | "done" | "failed";
  /** Archive bytes received so far. */
  received: number;
  /** Archive size, once known. */
  total: number;
  /** When this entry last changed, ISO 8601. */
  updatedAt: string;
}

/** Most entries kept; the oldest go first. */
export const MAX_PROGRESS_ENTRIES = 128;

/**
 * The progress of running installs, by an id their caller picked, so that a
 * CLI can show it while its install call is in flight. Bounded: the oldest
 * entries are dropped.
 */
export class ProgressBoard {
  readonly #entries = new Map<string, Progress>();

  /** Set (or start) the entry `id`, merging `change` into what it had. */
  update(id: string | undefined, change: Partial<Omit<Progress, "id" | "updatedAt">>): void {
    if (id === undefined) return;
    const before = this.#entries.get(id) ??
      { id, name: "", phase: "resolving", received: 0, total: 0, updatedAt: "" };
    this.#entries.delete(id);
    this.#entries.set(id, { ...before, ...change, id, updatedAt: new Date().toISOString() });
    while (this.#entries.size > MAX_PROGRESS_ENTRIES) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  /** The entry `id`, if known. */
  get(id: string): Progress | undefined {
    return this.#entries.get(id);
  }
}
