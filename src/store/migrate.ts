import type { DatabaseSync } from "node:sqlite";
import { RoamError } from "../errors/mod.ts";
import { transaction } from "./transaction.ts";

/** One versioned schema change. */
export interface Migration {
  /** 1, 2, 3, ... with no gaps. */
  version: number;
  /** A word or two for the log. */
  name: string;
  /** Statements run in one transaction. */
  sql: string;
}

/**
 * Bring a database up to the newest migration, each in its own transaction.
 * A database from a newer roam (a version this build does not know) is
 * refused rather than touched. Returns the versions applied.
 */
export function migrate(db: DatabaseSync, migrations: readonly Migration[]): number[] {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new TypeError(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
    }
  });
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL
  ) STRICT`);
  const row = db.prepare("SELECT max(version) AS v FROM schema_migrations").get() as {
    v: number | null;
  };
  const current = row.v ?? 0;
  if (current > migrations.length) {
    throw new RoamError(
      "conflict",
      `the state database is at schema version ${current}, newer than this roam knows (${migrations.length}); run a newer roam or use another --data-dir`,
      { current, known: migrations.length },
    );
  }
  const applied: number[] = [];
  const record = db.prepare(
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
  );
  for (const m of migrations.slice(current)) {
    try {
      transaction(db, () => {
        db.exec(m.sql);
        record.run(m.version, m.name, Date.now());
      });
    } catch (error) {
      throw new RoamError(
        "internal",
        `schema migration ${m.version} (${m.name}) failed: ${(error as Error).message}`,
        {
          version: m.version,
        },
      );
    }
    applied.push(m.version);
  }
  return applied;
}

/** The schema version a database is at (0 for a new one). */
export function schemaVersion(db: DatabaseSync): number {
  const exists = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'",
  ).get();
  if (!exists) return 0;
  return (db.prepare("SELECT max(version) AS v FROM schema_migrations").get() as {
    v: number | null;
  }).v ?? 0;
}
