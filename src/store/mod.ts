/**
 * The host's durable state in SQLite (`node:sqlite`, WAL): versioned
 * migrations and the bounded event log.
 *
 * @module
 */
export { openStore, type StoreOptions } from "./db.ts";
export { migrate, type Migration, schemaVersion } from "./migrate.ts";
export { MIGRATIONS } from "./migrations/mod.ts";
export { EventLog, type EventLogOptions, type EventQuery, type RoamEvent } from "./events.ts";
export { HostMeta } from "./meta.ts";
export { transaction } from "./transaction.ts";
