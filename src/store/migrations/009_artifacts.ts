import type { Migration } from "../migrate.ts";

/**
 * The ArtifactStore's metadata: one row per blob (the bytes live in
 * `DATA_DIR/artifacts/blobs/<sha256>`), and the pins that keep blobs from
 * garbage collection, each named by its holder (`agent:<id>`, `entry:<id>`,
 * `job:<id>`, `user`). `released_at` is set when the last pin goes away.
 */
export const artifacts: Migration = {
  version: 9,
  name: "artifacts",
  sql: `
    CREATE TABLE artifacts (
      sha256      TEXT PRIMARY KEY,
      size        INTEGER NOT NULL,
      created_at  INTEGER NOT NULL,
      owner       TEXT,
      name        TEXT,
      media_type  TEXT,
      expires_at  INTEGER,
      released_at INTEGER
    ) STRICT;
    CREATE INDEX artifacts_expiry ON artifacts (expires_at) WHERE expires_at IS NOT NULL;
    CREATE INDEX artifacts_released ON artifacts (released_at) WHERE released_at IS NOT NULL;
    CREATE TABLE artifact_pins (
      sha256     TEXT NOT NULL,
      holder     TEXT NOT NULL,
      name       TEXT,
      created_at INTEGER NOT NULL,
      PRIMARY KEY (sha256, holder)
    ) STRICT;
    CREATE INDEX artifact_pins_holder ON artifact_pins (holder);
  `,
};
