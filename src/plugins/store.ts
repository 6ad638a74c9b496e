import type { DatabaseSync, StatementSync } from "node:sqlite";
import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";
import type { EventLog } from "../store/mod.ts";
import { sha256Bytes, sha256File, sha256Text } from "./digest.ts";
import {
  BUNDLE_FILE,
  compareVersions,
  MANIFEST_FILE,
  MAX_BUNDLE_BYTES,
  type PackedManifest,
  parseManifest,
} from "./manifest.ts";
import {
  GRANTABLE,
  MAX_PERMISSION_ENTRIES,
  type PermissionLists,
  PermissionListSchemas,
  type PluginGrants,
} from "./permissions.ts";

/** An installed plugin version: its manifest, where its code lies, and its hash. */
export interface InstalledPlugin {
  /** The plugin's name. */
  name: string;
  /** This version. */
  version: string;
  /** sha256 of the bundle, 64 hex digits; also the name of its dir. */
  sha256: string;
  /** Size of the bundle in bytes. */
  size: number;
  /** The manifest as installed, with `bundle` set. */
  manifest: PackedManifest;
  /** When this version was installed, ISO 8601. */
  installedAt: string;
  /** `DATA_DIR/plugins/SHA256`. */
  dir: string;
  /** `DATA_DIR/plugins/SHA256/bundle.cjs`; read it with {@linkcode PluginStore.readCode}. */
  bundlePath: string;
}

/** What {@linkcode PluginStore.add} did. */
export interface AddedPlugin extends InstalledPlugin {
  /** False when this name, version and code were installed already (nothing changed). */
  installed: boolean;
}

/** What {@linkcode PluginStore.remove} did. */
export interface RemoveResult {
  /** The versions removed. */
  removed: InstalledPlugin[];
  /** Whether the plugin's grants went too (no version of it is left). */
  grantsDropped: boolean;
}

/** Options for {@linkcode PluginStore}. */
export interface PluginStoreOptions {
  /** The host's database, with the `002_plugins` migration applied. */
  db: DatabaseSync;
  /** The host's data dir; installs live in `DATA_DIR/plugins/`. */
  dataDir: string;
  /** Where installs, removals and grant changes are recorded. */
  events: EventLog;
}

/** Options for {@linkcode PluginStore.add}. */
export interface AddOptions {
  /** Where the manifest came from, for error messages. Default "the plugin manifest". */
  source?: string;
}

/** Options for {@linkcode PluginStore.grant}. */
export interface GrantOptions {
  /** Replace the plugin's grants instead of adding to them. */
  replace?: boolean;
}

type PluginRow = {
  name: string;
  version: string;
  sha256: string;
  size: number;
  manifest: string;
  installed_at: number;
};

const EMPTY_GRANTS = (): PluginGrants => ({ read: [], write: [], net: [], env: [] });

/**
 * The agent plugins installed on this host and the permissions the operator
 * has granted them.
 *
 * Code is kept by its hash: `DATA_DIR/plugins/SHA256/{plugin.json,bundle.cjs}`.
 * An install is written to a temp dir, verified, then renamed into place, so
 * that a dir under a hash name is always whole. The same bytes installed
 * under several names or versions share one dir (its `plugin.json` is the
 * first installer's; the database holds each version's own manifest). Which
 * name and version points at which hash, and the grants, live in SQLite.
 *
 * Grants are the operator's and are kept by plugin name across versions; an
 * agent gets only what is both granted and requested by its version
 * (see `effectivePermissions`).
 */
export class PluginStore {
  readonly #db: DatabaseSync;
  readonly #root: string;
  readonly #events: EventLog;
  readonly #sql: Record<
    | "insert"
    | "byName"
    | "byNameVersion"
    | "all"
    | "delete"
    | "shaUsers"
    | "grants"
    | "setGrants"
    | "deleteGrants",
    StatementSync
  >;
  #queue: Promise<unknown> = Promise.resolve();
  #swept = false;

  /** Keep plugins in `options.db` and under `options.dataDir/plugins`. */
  constructor(options: PluginStoreOptions) {
    this.#db = options.db;
    this.#root = join(options.dataDir, "plugins");
    this.#events = options.events;
    const db = this.#db;
    this.#sql = {
      insert: db.prepare(
        "INSERT INTO plugins (name, version, sha256, size, manifest, installed_at) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      byName: db.prepare("SELECT * FROM plugins WHERE name = ?"),
      byNameVersion: db.prepare("SELECT * FROM plugins WHERE name = ? AND version = ?"),
      all: db.prepare("SELECT * FROM plugins ORDER BY name"),
      delete: db.prepare("DELETE FROM plugins WHERE name = ? AND version = ?"),
      shaUsers: db.prepare("SELECT count(*) AS n FROM plugins WHERE sha256 = ?"),
      grants: db.prepare("SELECT grants FROM plugin_grants WHERE name = ?"),
      setGrants: db.prepare(
        "INSERT INTO plugin_grants (name, grants, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET grants = excluded.grants, updated_at = excluded.updated_at",
      ),
      deleteGrants: db.prepare("DELETE FROM plugin_grants WHERE name = ?"),
    };
  }

  /** `DATA_DIR/plugins`. */
  get root(): string {
    return this.#root;
  }

  /**
   * Install an agent plugin from its manifest and bundle text. Installing the
   * same name, version and code again changes nothing (`installed: false`).
   *
   * @throws {RoamError} `invalid_input` for a bad manifest, a capability plugin, or code whose
   * sha256 differs from the manifest's `bundle.sha256`; `too_large` for code over 8 MiB;
   * `conflict` when this name and version are installed with other code.
   */
  add(input: { manifest: unknown; code: string }, options: AddOptions = {}): Promise<AddedPlugin> {
    return this.#exclusive(async () => {
      const manifest = parseManifest(input.manifest, options.source ?? "the plugin manifest");
      const label = `${manifest.name} ${manifest.version}`;
      if (manifest.kind !== "agent") {
        throw new RoamError(
          "invalid_input",
          `${label} is a capability plugin; capability plugins come with the capability runtime, which this host does not have yet; only agent plugins can be added`,
          { name: manifest.name, kind: manifest.kind },
        );
      }
      const bytes = new TextEncoder().encode(input.code);
      if (bytes.byteLength > MAX_BUNDLE_BYTES) {
        throw new RoamError(
          "too_large",
          `the code of ${label} is ${bytes.byteLength} bytes; at most ${MAX_BUNDLE_BYTES} (8 MiB) are allowed`,
          { size: bytes.byteLength, limit: MAX_BUNDLE_BYTES },
        );
      }
      const sha256 = sha256Text(input.code);
      if (manifest.bundle && manifest.bundle.sha256 !== sha256) {
        throw new RoamError(
          "invalid_input",
          `the code of ${label} has sha256 ${sha256} but its manifest says ${manifest.bundle.sha256}; the bundle changed after packing: pack the plugin again`,
          { expected: manifest.bundle.sha256, actual: sha256 },
        );
      }
      const packed: PackedManifest = { ...manifest, bundle: { file: BUNDLE_FILE, sha256 } };
      const existing = this.#row(manifest.name, manifest.version);
      if (existing && existing.sha256 !== sha256) {
        throw new RoamError(
          "conflict",
          `${label} is installed already with other code (sha256 ${existing.sha256}); give the new code a new version, or remove the old one first with 'roam plugin remove ${manifest.name}@${manifest.version}'`,
          { name: manifest.name, version: manifest.version, installed: existing.sha256, sha256 },
        );
      }
      await this.#materialize(sha256, packed, bytes);
      if (existing) return { ...this.#toPlugin(existing), installed: false };
      const now = Date.now();
      this.#sql.insert.run(
        manifest.name,
        manifest.version,
        sha256,
        bytes.byteLength,
        JSON.stringify(packed),
        now,
      );
      this.#events.append("plugin.installed", {
        name: manifest.name,
        version: manifest.version,
        sha256,
        size: bytes.byteLength,
        requested: packed.permissions,
      }, manifest.name);
      return { ...this.#toPlugin(this.#row(manifest.name, manifest.version)!), installed: true };
    });
  }

  /** One installed version, or the newest by semver when `version` is not given. */
  get(name: string, version?: string): InstalledPlugin | undefined {
    if (version !== undefined) {
      const row = this.#row(name, version);
      return row && this.#toPlugin(row);
    }
    const rows = this.#sql.byName.all(name) as PluginRow[];
    rows.sort((a, b) => compareVersions(b.version, a.version));
    return rows[0] && this.#toPlugin(rows[0]);
  }

  /** Every installed version, by name, newest version first within a name. */
  list(): InstalledPlugin[] {
    const rows = this.#sql.all.all() as PluginRow[];
    rows.sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : compareVersions(b.version, a.version)
    );
    return rows.map((row) => this.#toPlugin(row));
  }

  /**
   * Uninstall one version, or every version when `version` is not given.
   * Code no other version uses is deleted. When no version of the name is
   * left, its grants go too, so that a later plugin of the same name starts
   * with none.
   *
   * @throws {RoamError} `not_found` when nothing matches.
   */
  remove(name: string, version?: string): Promise<RemoveResult> {
    return this.#exclusive(async () => {
      const rows = version === undefined
        ? this.#sql.byName.all(name) as PluginRow[]
        : [this.#row(name, version)].filter((r): r is PluginRow => r !== undefined);
      if (rows.length === 0) {
        throw new RoamError(
          "not_found",
          version === undefined
            ? `no plugin named ${name} is installed; 'roam plugin list' shows the installed ones`
            : `${name} ${version} is not installed; 'roam plugin info ${name}' shows its versions`,
          { name, ...(version === undefined ? {} : { version }) },
        );
      }
      const removed = rows.map((row) => this.#toPlugin(row));
      let dropped = false;
      for (const row of rows) {
        this.#sql.delete.run(row.name, row.version);
        const { n } = this.#sql.shaUsers.get(row.sha256) as { n: number };
        if (n === 0) await this.#discard(join(this.#root, row.sha256));
        const left = (this.#sql.byName.all(name) as PluginRow[]).length;
        const grantsDropped = left === 0 && this.#sql.deleteGrants.run(name).changes > 0;
        dropped ||= grantsDropped;
        this.#events.append("plugin.removed", {
          name: row.name,
          version: row.version,
          sha256: row.sha256,
          ...(grantsDropped ? { grantsDropped } : {}),
        }, row.name);
      }
      return { removed, grantsDropped: dropped };
    });
  }

  /**
   * The bundle text of an installed version, after checking its sha256
   * again. Code that changed on disk is never returned.
   *
   * @throws {RoamError} `unavailable` when the file is missing, too large, or its sha256
   * differs from the one recorded at install (it was tampered with or damaged).
   */
  async readCode(plugin: InstalledPlugin): Promise<string> {
    const label = `${plugin.name} ${plugin.version}`;
    let bytes: Uint8Array;
    try {
      const info = await Deno.stat(plugin.bundlePath);
      if (info.size > MAX_BUNDLE_BYTES) {
        throw new RoamError(
          "unavailable",
          `the installed code of ${label} at ${plugin.bundlePath} is ${info.size} bytes, more than any bundle may be; it was changed on disk and will not run: reinstall it with 'roam plugin add'`,
          { path: plugin.bundlePath, size: info.size },
        );
      }
      bytes = await Deno.readFile(plugin.bundlePath);
    } catch (error) {
      if (error instanceof RoamError) throw error;
      throw new RoamError(
        "unavailable",
        `cannot read the installed code of ${label} at ${plugin.bundlePath}: ${
          (error as Error).message
        }; reinstall it with 'roam plugin add'`,
        { path: plugin.bundlePath },
      );
    }
    const actual = sha256Bytes(bytes);
    let code: string | undefined;
    try {
      code = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch { /* not UTF-8: cannot be what was installed */ }
    if (actual !== plugin.sha256 || code === undefined) {
      throw new RoamError(
        "unavailable",
        `the installed code of ${label} at ${plugin.bundlePath} does not match its recorded sha256 ${plugin.sha256}; it was changed on disk and will not run: remove it and add it again`,
        { path: plugin.bundlePath, expected: plugin.sha256, actual, tampered: true },
      );
    }
    return code;
  }

  /**
   * Grant a plugin (every version of it) paths, hosts and environment
   * variables, adding to what it has unless `replace`. Returns the grants
   * now in force. Paths must be absolute.
   *
   * @throws {RoamError} `not_found` when no version of `name` is installed; `invalid_input`
   * for a malformed entry or more than 64 entries in a list.
   */
  grant(name: string, grants: Partial<PermissionLists>, options: GrantOptions = {}): PluginGrants {
    if ((this.#sql.byName.all(name) as PluginRow[]).length === 0) {
      throw new RoamError(
        "not_found",
        `no plugin named ${name} is installed; add it before granting it anything`,
        { name },
      );
    }
    const base = options.replace ? EMPTY_GRANTS() : this.grantsFor(name);
    const next = EMPTY_GRANTS();
    for (const kind of GRANTABLE) {
      const parsed = PermissionListSchemas[kind].safeParse(grants[kind] ?? []);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const index = issue.path.length ? `[${issue.path.join(".")}]` : "";
        throw new RoamError(
          "invalid_input",
          `grant ${kind}${index}: ${issue.message}`,
          { kind, issues: parsed.error.issues.map(({ path, message }) => ({ path, message })) },
        );
      }
      next[kind] = [...new Set([...base[kind], ...parsed.data])].sort();
      if (next[kind].length > MAX_PERMISSION_ENTRIES) {
        throw new RoamError(
          "invalid_input",
          `${name} would have ${
            next[kind].length
          } ${kind} grants; at most ${MAX_PERMISSION_ENTRIES} are allowed: grant a parent dir instead, or use --replace`,
          { kind, limit: MAX_PERMISSION_ENTRIES },
        );
      }
    }
    this.#sql.setGrants.run(name, JSON.stringify(next), Date.now());
    this.#events.append("plugin.granted", { name, grants: next, replace: !!options.replace }, name);
    return next;
  }

  /** Take every grant away from a plugin. Returns whether it had any. */
  revoke(name: string): boolean {
    const had = this.#sql.deleteGrants.run(name).changes > 0;
    if (had) this.#events.append("plugin.revoked", { name }, name);
    return had;
  }

  /** What the operator has granted a plugin (empty lists when nothing). */
  grantsFor(name: string): PluginGrants {
    const row = this.#sql.grants.get(name) as { grants: string } | undefined;
    return row ? { ...EMPTY_GRANTS(), ...JSON.parse(row.grants) } : EMPTY_GRANTS();
  }

  #row(name: string, version: string): PluginRow | undefined {
    return this.#sql.byNameVersion.get(name, version) as PluginRow | undefined;
  }

  #toPlugin(row: PluginRow): InstalledPlugin {
    const dir = join(this.#root, row.sha256);
    return {
      name: row.name,
      version: row.version,
      sha256: row.sha256,
      size: row.size,
      manifest: JSON.parse(row.manifest),
      installedAt: new Date(row.installed_at).toISOString(),
      dir,
      bundlePath: join(dir, BUNDLE_FILE),
    };
  }

  /** Run file work one call at a time, so that two installs never race on a dir. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      if (!this.#swept) {
        this.#swept = true;
        await this.#sweep();
      }
      return await fn();
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Make `ROOT/SHA256/` hold exactly these bytes, unless it already does. */
  async #materialize(sha256: string, manifest: PackedManifest, bytes: Uint8Array): Promise<void> {
    const final = join(this.#root, sha256);
    if (await this.#holds(final, sha256)) return;
    await Deno.mkdir(this.#root, { recursive: true, mode: 0o700 });
    const temp = await Deno.makeTempDir({ dir: this.#root, prefix: ".tmp-" });
    try {
      await writeSynced(join(temp, BUNDLE_FILE), bytes);
      await writeSynced(
        join(temp, MANIFEST_FILE),
        new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n"),
      );
      const written = await sha256File(join(temp, BUNDLE_FILE), { maxBytes: MAX_BUNDLE_BYTES });
      if (written.sha256 !== sha256) {
        throw new RoamError(
          "internal",
          `the code written to ${temp} reads back with sha256 ${written.sha256}, not ${sha256}; is the disk failing?`,
          { expected: sha256, actual: written.sha256 },
        );
      }
      // A damaged dir under the hash name is moved aside before the good one takes its place.
      await this.#discard(final);
      await Deno.rename(temp, final);
    } finally {
      await Deno.remove(temp, { recursive: true }).catch(() => {});
    }
  }

  async #holds(dir: string, sha256: string): Promise<boolean> {
    try {
      const digest = await sha256File(join(dir, BUNDLE_FILE), { maxBytes: MAX_BUNDLE_BYTES });
      await Deno.stat(join(dir, MANIFEST_FILE));
      return digest.sha256 === sha256;
    } catch {
      return false;
    }
  }

  /** Remove a dir so that it disappears from its name at once, then delete it. */
  async #discard(dir: string): Promise<void> {
    const aside = join(this.#root, `.tmp-gone-${crypto.randomUUID()}`);
    try {
      await Deno.rename(dir, aside);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    await Deno.remove(aside, { recursive: true });
  }

  /** Delete temp dirs left by a host that stopped in the middle of an install. */
  async #sweep(): Promise<void> {
    try {
      for await (const entry of Deno.readDir(this.#root)) {
        if (entry.name.startsWith(".tmp-")) {
          await Deno.remove(join(this.#root, entry.name), { recursive: true }).catch(() => {});
        }
      }
    } catch { /* no plugins dir yet */ }
  }
}

async function writeSynced(path: string, bytes: Uint8Array): Promise<void> {
  using file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  let offset = 0;
  while (offset < bytes.byteLength) offset += await file.write(bytes.subarray(offset));
  await file.sync();
}
