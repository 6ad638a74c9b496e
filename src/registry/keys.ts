import type { DatabaseSync } from "node:sqlite";
import { RoamError } from "../errors/mod.ts";
import type { EventLog } from "../store/mod.ts";

/** Options for {@linkcode KeyPins.check}. */
export interface CheckKeyOptions {
  /** Take this key (or no signature) even when another key is pinned, and pin it. */
  acceptNewKey?: boolean;
}

/**
 * The publisher key of each registry, pinned the first time a signed index
 * is read from it (trust on first use). A later index signed with another
 * key, or not signed at all, is refused until the operator accepts the
 * change.
 */
export class KeyPins {
  readonly #db: DatabaseSync;
  readonly #events: EventLog;

  /** Keep pins in `db` (with the registry migration applied). */
  constructor(db: DatabaseSync, events: EventLog) {
    this.#db = db;
    this.#events = events;
  }

  /** The key pinned for a registry, if any. */
  get(registry: string): string | undefined {
    const row = this.#db.prepare("SELECT key FROM registry_keys WHERE registry = ?").get(
      registry,
    ) as { key: string } | undefined;
    return row?.key;
  }

  /**
   * Check the key an index was signed with (`undefined` when unsigned)
   * against the pin, pinning it when there is none.
   *
   * @throws {RoamError} `forbidden` when the key differs from the pinned one, or the index is
   * unsigned while a key is pinned; the message says how to accept the change.
   */
  check(registry: string, key: string | undefined, options: CheckKeyOptions = {}): void {
    const pinned = this.get(registry);
    if (pinned === key) return;
    if (pinned === undefined) {
      this.#pin(registry, key!);
      this.#events.append("registry.key_pinned", { registry, key }, registry);
      return;
    }
    if (!options.acceptNewKey) {
      throw new RoamError(
        "forbidden",
        key === undefined
          ? `the index at ${registry} is not signed, but its publisher signed it with ${pinned} before; someone may have replaced it. If the publisher really stopped signing, accept that with --accept-new-key`
          : `the index at ${registry} is signed with ${key}, but this host pinned ${pinned} for it; someone may have replaced it. If the publisher really changed keys, accept the new one with --accept-new-key`,
        { registry, pinned, key: key ?? null },
      );
    }
    if (key === undefined) {
      this.#db.prepare("DELETE FROM registry_keys WHERE registry = ?").run(registry);
    } else {
      this.#pin(registry, key);
    }
    this.#events.append(
      "registry.key_changed",
      { registry, from: pinned, to: key ?? null },
      registry,
    );
  }

  #pin(registry: string, key: string): void {
    this.#db.prepare(
      "INSERT INTO registry_keys (registry, key, pinned_at) VALUES (?, ?, ?) ON CONFLICT (registry) DO UPDATE SET key = excluded.key, pinned_at = excluded.pinned_at",
    ).run(registry, key, Date.now());
  }
}
