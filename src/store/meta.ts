import type { DatabaseSync } from "node:sqlite";

/** Small named values about the host itself (its id, its first start). */
export class HostMeta {
  readonly #db: DatabaseSync;

  /** Keep values in `db` (which must have the `host_meta` table). */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** The value of `key`, or undefined. */
  get(key: string): string | undefined {
    const row = this.#db.prepare("SELECT value FROM host_meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  /** Set `key`. */
  set(key: string, value: string): void {
    this.#db.prepare(
      "INSERT INTO host_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ).run(key, value);
  }

  /** The value of `key`, storing `make()` first when there is none. */
  getOrSet(key: string, make: () => string): string {
    const existing = this.get(key);
    if (existing !== undefined) return existing;
    const value = make();
    this.set(key, value);
    return value;
  }
}
