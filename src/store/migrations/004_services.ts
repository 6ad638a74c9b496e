import type { Migration } from "../migrate.ts";

/** Resident services: host-level declarations, each with the fixed id of the agent that serves it. */
export const services: Migration = {
  version: 4,
  name: "services",
  sql: `
    CREATE TABLE resident_services (
      name           TEXT PRIMARY KEY,
      agent_id       TEXT NOT NULL UNIQUE,
      plugin         TEXT NOT NULL,
      version        TEXT NOT NULL,
      capabilities   TEXT NOT NULL,
      metadata       TEXT NOT NULL,
      idle_ms        INTEGER NOT NULL,
      state          TEXT,
      created_at     INTEGER NOT NULL,
      updated_at     INTEGER NOT NULL
    ) STRICT;
  `,
};
