import type { Migration } from "../migrate.ts";

/** Installed plugin versions (code kept by sha256 on disk) and the operator's grants. */
export const plugins: Migration = {
  version: 2,
  name: "plugins",
  sql: `
    CREATE TABLE plugins (
      name         TEXT NOT NULL,
      version      TEXT NOT NULL,
      sha256       TEXT NOT NULL,
      size         INTEGER NOT NULL,
      manifest     TEXT NOT NULL,
      installed_at INTEGER NOT NULL,
      PRIMARY KEY (name, version)
    ) STRICT;
    CREATE INDEX plugins_sha256 ON plugins (sha256);
    CREATE TABLE plugin_grants (
      name       TEXT PRIMARY KEY,
      grants     TEXT NOT NULL,
      updated_at INTEGER NOT NULL
    ) STRICT;
  `,
};
