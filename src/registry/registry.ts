import type { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";
import type { EventLog } from "../store/mod.ts";
import { ROAM_VERSION } from "../version.ts";
import { extractArchive } from "./archive.ts";
import type { RegistryConfig } from "./config.ts";
import { display, downloadVerified } from "./download.ts";
import type { IndexPlugin, IndexVersion } from "./format.ts";
import type { PluginInstaller } from "./installer.ts";
import { KeyPins } from "./keys.ts";
import { type Progress, ProgressBoard } from "./progress.ts";
import { type InstallRecord, InstallRecords } from "./records.ts";
import { checkRange, compareSemver, heldBack, pickVersion, runsOn } from "./resolve.ts";
import { type LoadedIndex, loadIndex, resolveIndexUrl } from "./source.ts";

/** Options for {@linkcode RegistryService}. */
export interface RegistryServiceOptions {
  /** The host's database, with the registry migration applied. */
  db: DatabaseSync;
  /** The host's data dir; downloads are staged in `DATA_DIR/registry/staging/`. */
  dataDir: string;
  /** Where installs, removals and key changes are recorded. */
  events: EventLog;
  /** Limits and the default registry. */
  config: RegistryConfig;
  /** Who puts each kind of plugin in place. */
  installers: Record<"agent" | "capability", PluginInstaller>;
  /** The roam version plugins are checked against. Default: this build's. */
  roamVersion?: string;
}

/** What to ask of a registry. */
export interface RegistryOptions {
  /** The index URL; default the host's configured one. */
  registry?: string;
  /** Take an index signed with a key other than the pinned one (or unsigned), and pin the new key. */
  acceptNewKey?: boolean;
  /** Cancels the work. */
  signal?: AbortSignal;
}

/** Options for {@linkcode RegistryService.install}. */
export interface InstallOptions extends RegistryOptions {
  /** A semver range; default `*` (the newest release that runs here). */
  range?: string;
  /** An id under which {@linkcode RegistryService.progress} reports this install. */
  progressId?: string;
}

/** What {@linkcode RegistryService.install} did. */
export interface InstallResult extends InstallRecord {
  /** False when this exact version was installed already. */
  installed: boolean;
  /** The version it replaced, if any. */
  previous?: string;
}

/** What {@linkcode RegistryService.update} did. */
export interface UpdateResult {
  /** Plugins moved to a newer version. */
  updated: { name: string; from: string; to: string }[];
  /** Plugins already at the newest version in their range. */
  current: { name: string; version: string }[];
  /** Newer versions that need a newer roam than this host runs. */
  heldBack: { name: string; version: string; minRoam: string }[];
  /** Plugins that could not be updated, and why. */
  failed: { name: string; code: string; message: string }[];
}

/**
 * The plugin registry client of a host: reads indexes (checking signatures
 * against pinned publisher keys), resolves versions, downloads archives with
 * their size and sha256 checked as they stream, unpacks them safely, and
 * hands them to the installer of their kind. Installs, updates and removals
 * run one at a time; each is all or nothing.
 */
export class RegistryService {
  readonly #options: RegistryServiceOptions;
  readonly #pins: KeyPins;
  readonly #records: InstallRecords;
  readonly #progress = new ProgressBoard();
  readonly #roam: string;
  readonly #staging: string;
  #queue: Promise<unknown> = Promise.resolve();
  #swept = false;

  /** A service over `options.db` and `options.dataDir`. */
  constructor(options: RegistryServiceOptions) {
    this.#options = options;
    this.#pins = new KeyPins(options.db, options.events);
    this.#records = new InstallRecords(options.db);
    this.#roam = options.roamVersion ?? ROAM_VERSION;
    this.#staging = join(options.dataDir, "registry", "staging");
  }

  /** The roam version plugins are checked against. */
  get roamVersion(): string {
    return this.#roam;
  }

  /**
   * Read, verify and parse the index a call means (`options.registry`, else
   * the configured default). See {@linkcode loadIndex}.
   */
  async load(options: RegistryOptions = {}): Promise<LoadedIndex> {
    const url = await resolveIndexUrl(options.registry ?? this.#options.config.url);
    return await loadIndex(url, {
      config: this.#options.config,
      pins: this.#pins,
      acceptNewKey: options.acceptNewKey,
      signal: options.signal,
    });
  }

  /** Plugins whose name or description holds `text` (every plugin without it). */
  async search(text: string | undefined, options: RegistryOptions = {}) {
    const loaded = await this.load(options);
    const needle = text?.toLowerCase();
    const plugins = loaded.index.plugins
      .filter((p) =>
        !needle || p.name.includes(needle) || p.description.toLowerCase().includes(needle)
      )
      .map((p) => this.#summary(p, loaded.url));
    return { registry: loaded.url, key: loaded.key ?? null, plugins };
  }

  /**
   * One plugin as the index describes it, every version with whether it runs here.
   *
   * @throws {RoamError} `not_found` when the index has no such plugin.
   */
  async info(name: string, options: RegistryOptions = {}) {
    const loaded = await this.load(options);
    const plugin = findPlugin(loaded, name);
    const base = new URL(loaded.url);
    return {
      ...this.#summary(plugin, loaded.url),
      registry: loaded.url,
      key: loaded.key ?? null,
      versions: [...plugin.versions]
        .sort((a, b) => compareSemver(b.version, a.version))
        .map((v) => ({
          ...v,
          description: v.description ?? plugin.description,
          archive: { ...v.archive, url: new URL(v.archive.url, base).href },
          runsHere: runsOn(v, this.#roam),
        })),
    };
  }

  /**
   * Install `name` (the newest version in `range` that runs on this roam)
   * from a registry, replacing the version installed now. Installing the
   * installed version again changes nothing.
   */
  install(name: string, options: InstallOptions = {}): Promise<InstallResult> {
    return this.#exclusive(async () => {
      const range = checkRange(options.range ?? "*");
      this.#progress.update(options.progressId, { name, phase: "resolving" });
      try {
        const loaded = await this.load(options);
        const plugin = findPlugin(loaded, name);
        const version = pickVersion(plugin, range, this.#roam);
        const result = await this.#installVersion(loaded, plugin, version, range, options);
        this.#progress.update(options.progressId, { phase: "done" });
        return result;
      } catch (error) {
        this.#progress.update(options.progressId, { phase: "failed" });
        throw error;
      }
    });
  }

  /**
   * Move installed plugins (one, or all) to the newest version in the range
   * each was installed with, from the registry each came from (or from
   * `options.registry`). Updating one plugin throws on failure; updating all
   * reports each failure and goes on.
   */
  update(name: string | undefined, options: InstallOptions = {}): Promise<UpdateResult> {
    return this.#exclusive(async () => {
      const records: InstallRecord[] = [];
      for (const record of name === undefined ? this.#records.list() : [this.#recordOf(name)]) {
        if (await this.#options.installers[record.kind].has(record.name, record.version)) {
          records.push(record);
        } else {
          // Removed by other means: forgotten, not brought back.
          this.#records.delete(record.name);
          if (name !== undefined) this.#recordOf(name);
        }
      }
      const out: UpdateResult = { updated: [], current: [], heldBack: [], failed: [] };
      const indexes = new Map<string, Promise<LoadedIndex>>();
      for (const record of records) {
        try {
          const registry = options.registry ?? record.registry;
          if (!indexes.has(registry)) indexes.set(registry, this.load({ ...options, registry }));
          const loaded = await indexes.get(registry)!;
          const plugin = findPlugin(loaded, record.name);
          const version = pickVersion(plugin, record.range, this.#roam);
          const held = heldBack(plugin, record.range, this.#roam, version.version);
          if (held) {
            out.heldBack.push({ name: record.name, version: held.version, minRoam: held.minRoam });
          }
          if (compareSemver(version.version, record.version) <= 0) {
            out.current.push({ name: record.name, version: record.version });
            continue;
          }
          this.#progress.update(options.progressId, { name: record.name, phase: "resolving" });
          await this.#installVersion(loaded, plugin, version, record.range, options);
          out.updated.push({ name: record.name, from: record.version, to: version.version });
        } catch (error) {
          if (name !== undefined) {
            this.#progress.update(options.progressId, { phase: "failed" });
            throw error;
          }
          const e = error instanceof RoamError ? error : new RoamError("internal", String(error));
          out.failed.push({ name: record.name, code: e.code, message: e.message });
        }
      }
      this.#progress.update(options.progressId, { phase: "done" });
      return out;
    });
  }

  /**
   * Uninstall a plugin installed from a registry, and forget it.
   *
   * @throws {RoamError} `not_found` when no registry install of that name is recorded.
   */
  remove(name: string): Promise<InstallRecord> {
    return this.#exclusive(async () => {
      const record = this.#recordOf(name);
      await this.#options.installers[record.kind].remove(record.name, record.version);
      this.#records.delete(record.name);
      this.#options.events.append("registry.removed", {
        name: record.name,
        version: record.version,
        kind: record.kind,
      }, record.name);
      return record;
    });
  }

  /**
   * What is installed from registries. A record whose plugin was removed by
   * other means (`roam plugin remove NAME@VERSION`) is left out here, and
   * forgotten by the next install, update or removal of that name.
   */
  async installed(): Promise<InstallRecord[]> {
    const out: InstallRecord[] = [];
    for (const record of this.#records.list()) {
      if (await this.#options.installers[record.kind].has(record.name, record.version)) {
        out.push(record);
      }
    }
    return out;
  }

  /** Where the install or update started with `progressId` stands. */
  progress(id: string): Progress | undefined {
    return this.#progress.get(id);
  }

  async #installVersion(
    loaded: LoadedIndex,
    plugin: IndexPlugin,
    version: IndexVersion,
    range: string,
    options: InstallOptions,
  ): Promise<InstallResult> {
    const { config, installers, events } = this.#options;
    const installer = installers[plugin.kind];
    const recorded = this.#records.get(plugin.name);
    // A record whose plugin was removed by other means is forgotten.
    const current = recorded && await installers[recorded.kind].has(recorded.name, recorded.version)
      ? recorded
      : undefined;
    if (recorded && !current) this.#records.delete(recorded.name);
    const label = `${plugin.name} ${version.version}`;
    if (current && current.kind !== plugin.kind) {
      throw new RoamError(
        "conflict",
        `${plugin.name} is installed as a ${current.kind} plugin, and the registry offers a ${plugin.kind} plugin of that name; remove the installed one first with 'roam plugin remove ${plugin.name}'`,
        { name: plugin.name, installed: current.kind, offered: plugin.kind },
      );
    }
    if (
      current && current.version === version.version &&
      current.sha256 === version.archive.sha256 &&
      await installer.has(plugin.name, version.version)
    ) {
      const record = this.#records.put({ ...current, range, registry: loaded.url });
      return { ...record, installed: false };
    }
    const archiveUrl = new URL(version.archive.url, loaded.url);
    if (archiveUrl.protocol === "file:" && !loaded.url.startsWith("file:")) {
      throw new RoamError(
        "invalid_input",
        `the index at ${loaded.url} names a local file as the archive of ${label}; an index served over http(s) may name only http(s) archives`,
        { archive: display(archiveUrl) },
      );
    }
    if (version.archive.size > config.maxArchiveBytes) {
      throw new RoamError(
        "too_large",
        `the archive of ${label} is ${version.archive.size} bytes; this host takes at most ${config.maxArchiveBytes} (registry.maxArchiveBytes)`,
        { size: version.archive.size, limit: config.maxArchiveBytes },
      );
    }
    await this.#sweep();
    const work = join(this.#staging, crypto.randomUUID());
    await Deno.mkdir(work, { recursive: true, mode: 0o700 });
    try {
      const file = join(work, "archive.tar.gz");
      const unpacked = join(work, "plugin");
      const progressId = options.progressId;
      this.#progress.update(progressId, {
        name: plugin.name,
        version: version.version,
        phase: "downloading",
        received: 0,
        total: version.archive.size,
      });
      await downloadVerified(archiveUrl, file, {
        size: version.archive.size,
        sha256: version.archive.sha256,
        timeoutMs: config.timeoutMs,
        stallMs: config.stallMs,
        signal: options.signal,
        onProgress: (received) => this.#progress.update(progressId, { received }),
      });
      this.#progress.update(progressId, { phase: "unpacking" });
      await Deno.mkdir(unpacked);
      await extractArchive(file, unpacked, {
        maxEntries: config.maxEntries,
        maxFileBytes: config.maxFileBytes,
        maxTotalBytes: config.maxUnpackedBytes,
      });
      this.#progress.update(progressId, { phase: "installing" });
      const expected = { name: plugin.name, version: version.version, kind: plugin.kind };
      const hadIt = await installer.has(plugin.name, version.version);
      await installer.install(unpacked, expected);
      let record: InstallRecord;
      try {
        record = this.#records.put({
          ...expected,
          range,
          sha256: version.archive.sha256,
          registry: loaded.url,
        });
      } catch (error) {
        if (!hadIt && plugin.kind === "agent") {
          await installer.remove(plugin.name, version.version).catch(() => {});
        }
        throw error;
      }
      // The previous version of an agent plugin stays in the store: agents
      // created on it keep their version, and would not wake without it.
      events.append("registry.installed", {
        name: plugin.name,
        version: version.version,
        kind: plugin.kind,
        sha256: version.archive.sha256,
        registry: loaded.url,
        ...(current ? { previous: current.version } : {}),
      }, plugin.name);
      return { ...record, installed: true, ...(current ? { previous: current.version } : {}) };
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  }

  #summary(plugin: IndexPlugin, registry: string) {
    const newest = [...plugin.versions].sort((a, b) => compareSemver(b.version, a.version));
    const fitting = newest.find((v) => runsOn(v, this.#roam) && !v.version.includes("-"));
    const record = this.#records.get(plugin.name);
    return {
      name: plugin.name,
      kind: plugin.kind,
      description: plugin.description,
      latest: newest[0].version,
      latestHere: fitting?.version ?? null,
      installed: record && record.registry === registry ? record.version : null,
    };
  }

  #recordOf(name: string): InstallRecord {
    const record = this.#records.get(name);
    if (!record) {
      throw new RoamError(
        "not_found",
        `${name} was not installed from a registry; 'roam plugin list' shows what is installed`,
        { name },
      );
    }
    return record;
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Delete staging dirs a stopped host left behind, once. */
  async #sweep(): Promise<void> {
    if (this.#swept) return;
    this.#swept = true;
    await Deno.remove(this.#staging, { recursive: true }).catch(() => {});
  }
}

function findPlugin(loaded: LoadedIndex, name: string): IndexPlugin {
  const plugin = loaded.index.plugins.find((p) => p.name === name);
  if (!plugin) {
    throw new RoamError(
      "not_found",
      `the registry at ${
        display(new URL(loaded.url))
      } has no plugin named ${name}; 'roam plugin search' lists what it has`,
      { name, registry: display(new URL(loaded.url)) },
    );
  }
  return plugin;
}
