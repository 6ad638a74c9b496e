import type { Migration } from "../migrate.ts";

/**
 * Memory: the record index of the host's local pools (which key maps to
 * which blob of the blob store, by pool). The blobs themselves are
 * content-addressed bytes in the blob store.
 */
export const memory: Migration = {
  version: 7,
  name: "memory",
  sql: `
    CREATE TABLE memory_records (
      pool       TEXT NOT NULL,
      key        TEXT NOT NULL,
      sha256     TEXT NOT NULL,
      size       INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      PRIMARY KEY (pool, key)
    ) STRICT;
    CREATE INDEX memory_records_sha ON memory_records (sha256);
  `,
};
