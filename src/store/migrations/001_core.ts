import type { Migration } from "../migrate.ts";

/** The host's identity and the event log. */
export const core: Migration = {
  version: 1,
  name: "core",
  sql: `
    CREATE TABLE host_meta (
      key   TEXT PRIMARY KEY,
      value TEXT NOT NULL
    ) STRICT;
    CREATE TABLE events (
      seq     INTEGER PRIMARY KEY AUTOINCREMENT,
      ts      INTEGER NOT NULL,
      type    TEXT NOT NULL,
      subject TEXT,
      data    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX events_type ON events (type, seq);
  `,
};
