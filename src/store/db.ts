import { DatabaseSync } from "node:sqlite";
import { RoamError } from "../errors/mod.ts";
import { migrate, type Migration } from "./migrate.ts";
import { MIGRATIONS } from "./migrations/mod.ts";

/** Options for {@linkcode openStore}. */
export interface StoreOptions {
  /** Path of the database file, or `:memory:`. */
  path: string;
  /** Migrations to apply; roam's own by default. */
  migrations?: readonly Migration[];
}

/**
 * Open the host's SQLite state: WAL journal, foreign keys on, a busy timeout,
 * and every migration applied.
 */
export function openStore(options: StoreOptions): DatabaseSync {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(options.path);
  } catch (error) {
    throw new RoamError(
      "unavailable",
      `cannot open the state database ${options.path}: ${(error as Error).message}`,
      {
        path: options.path,
      },
    );
  }
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("PRAGMA busy_timeout = 5000");
    migrate(db, options.migrations ?? MIGRATIONS);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
