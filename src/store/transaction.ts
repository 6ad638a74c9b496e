import type { DatabaseSync } from "node:sqlite";

/** Databases with a transaction open now (so that a nested call joins it). */
const open = new WeakSet<DatabaseSync>();

/**
 * Run `fn` in one write transaction on `db` (`BEGIN IMMEDIATE`, then
 * `COMMIT`, or `ROLLBACK` when it throws) and return what it returns.
 * Inside another transaction on the same database it simply runs, as part
 * of that one.
 */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  if (open.has(db)) return fn();
  db.exec("BEGIN IMMEDIATE");
  open.add(db);
  try {
    const value = fn();
    db.exec("COMMIT");
    return value;
  } catch (error) {
    try {
      db.exec("ROLLBACK");
    } catch { /* the database is closed or the transaction already ended */ }
    throw error;
  } finally {
    open.delete(db);
  }
}
