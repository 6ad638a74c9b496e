import type { Migration } from "../migrate.ts";

/** Agents: their records (active, inactive, crashed) and messages queued while they sleep. */
export const agents: Migration = {
  version: 3,
  name: "agents",
  sql: `
    CREATE TABLE agents (
      id                  TEXT PRIMARY KEY,
      plugin              TEXT NOT NULL,
      version             TEXT NOT NULL,
      sha256              TEXT NOT NULL,
      status              TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'crashed')),
      state               TEXT NOT NULL,
      policy              TEXT NOT NULL DEFAULT '{}',
      activate_at         INTEGER,
      activate_on_startup INTEGER NOT NULL DEFAULT 0,
      reason              TEXT,
      created_at          INTEGER NOT NULL,
      updated_at          INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX agents_activate_at ON agents (activate_at) WHERE activate_at IS NOT NULL;
    CREATE TABLE agent_queue (
      seq      INTEGER PRIMARY KEY AUTOINCREMENT,
      agent_id TEXT NOT NULL,
      message  TEXT NOT NULL,
      queued_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX agent_queue_agent ON agent_queue (agent_id, seq);
  `,
};
