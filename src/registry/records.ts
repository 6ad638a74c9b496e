import type { DatabaseSync } from "node:sqlite";

/** A plugin installed from a registry, as the host records it. */
export interface InstallRecord {
  /** The plugin's name. */
  name: string;
  /** The version installed. */
  version: string;
  /** `agent` or `capability`. */
  kind: "agent" | "capability";
  /** The range it was asked for (`*` when none); `update` stays inside it. */
  range: string;
  /** sha256 of the archive it came from. */
  sha256: string;
  /** The index URL it came from. */
  registry: string;
  /** When, ISO 8601. */
  installedAt: string;
}

type Row = {
  name: string;
  version: string;
  kind: string;
  range: string;
  sha256: string;
  registry: string;
  installed_at: number;
};

/** The record of what was installed from registries: one version per plugin name. */
export class InstallRecords {
  readonly #db: DatabaseSync;

  /** Keep records in `db` (with the registry migration applied). */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** The record of one plugin. */
  get(name: string): InstallRecord | undefined {
    const row = this.#db.prepare("SELECT * FROM registry_installs WHERE name = ?").get(name) as
      | Row
      | undefined;
    return row && toRecord(row);
  }

  /** Every record, by name. */
  list(): InstallRecord[] {
    return (this.#db.prepare("SELECT * FROM registry_installs ORDER BY name").all() as Row[]).map(
      toRecord,
    );
  }

  /** Write (or replace) the record of a plugin. */
  put(record: Omit<InstallRecord, "installedAt">): InstallRecord {
    const now = Date.now();
    this.#db.prepare(
      `INSERT INTO registry_installs (name, version, kind, range, sha256, registry, installed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, kind = excluded.kind,
         range = excluded.range, sha256 = excluded.sha256, registry = excluded.registry,
         installed_at = excluded.installed_at`,
    ).run(
      record.name,
      record.version,
      record.kind,
      record.range,
      record.sha256,
      record.registry,
      now,
    );
    return { ...record, installedAt: new Date(now).toISOString() };
  }

  /** Forget a plugin; returns whether there was a record. */
  delete(name: string): boolean {
    return this.#db.prepare("DELETE FROM registry_installs WHERE name = ?").run(name).changes > 0;
  }
}

function toRecord(row: Row): InstallRecord {
  return {
    name: row.name,
    version: row.version,
    kind: row.kind as InstallRecord["kind"],
    range: row.range,
    sha256: row.sha256,
    registry: row.registry,
    installedAt: new Date(row.installed_at).toISOString(),
  };
}
