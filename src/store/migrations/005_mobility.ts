import type { Migration } from "../migrate.ts";

/**
 * Agent mobility: moves this host started and has not settled (departures),
 * envelopes it received (arrivals, kept after the start so that a repeated
 * delivery or a late settle question gets the same answer), where agents that
 * left went (forwarding tombstones), and each resident agent's travel count.
 */
export const mobility: Migration = {
  version: 5,
  name: "mobility",
  sql: `
    CREATE TABLE agent_departures (
      transfer_id TEXT PRIMARY KEY,
      agent_id    TEXT NOT NULL,
      kind        TEXT NOT NULL,
      target      TEXT NOT NULL,
      phase       TEXT NOT NULL CHECK (phase IN ('departing', 'committed')),
      envelope    TEXT NOT NULL,
      created_at  INTEGER NOT NULL,
      updated_at  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX agent_departures_agent ON agent_departures (agent_id);
    CREATE TABLE agent_arrivals (
      transfer_id TEXT PRIMARY KEY,
      agent_id    TEXT NOT NULL,
      phase       TEXT NOT NULL CHECK (phase IN ('stored', 'started', 'aborted')),
      envelope    TEXT,
      source      TEXT,
      created_at  INTEGER NOT NULL,
      updated_at  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX agent_arrivals_agent ON agent_arrivals (agent_id, phase);
    CREATE INDEX agent_arrivals_updated ON agent_arrivals (updated_at);
    CREATE TABLE agent_locations (
      agent_id    TEXT PRIMARY KEY,
      url         TEXT NOT NULL,
      epoch       INTEGER NOT NULL,
      transfer_id TEXT NOT NULL,
      moved_at    INTEGER NOT NULL,
      expires_at  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX agent_locations_expiry ON agent_locations (expires_at);
    CREATE TABLE agent_travel (
      agent_id TEXT PRIMARY KEY,
      epoch    INTEGER NOT NULL,
      hops     INTEGER NOT NULL,
      origin   TEXT NOT NULL
    ) STRICT;
  `,
};
