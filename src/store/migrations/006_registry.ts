import type { Migration } from "../migrate.ts";

/**
 * Plugins installed from a registry (one version per name, with the range it
 * was asked for and where it came from) and the publisher keys pinned per
 * registry on first use.
 */
export const registry: Migration = {
  version: 6,
  name: "registry",
  sql: `
    CREATE TABLE registry_installs (
      name         TEXT PRIMARY KEY,
      version      TEXT NOT NULL,
      kind         TEXT NOT NULL,
      range        TEXT NOT NULL,
      sha256       TEXT NOT NULL,
      registry     TEXT NOT NULL,
      installed_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE registry_keys (
      registry  TEXT PRIMARY KEY,
      key       TEXT NOT NULL,
      pinned_at INTEGER NOT NULL
    ) STRICT;
  `,
};
