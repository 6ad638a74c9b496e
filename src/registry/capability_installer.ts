import { join } from "node:path";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";
import type { ExpectedPlugin, PluginInstaller } from "./installer.ts";

/** The fields of a capability's `plugin.json` the installer checks; the rest is the runtime's. */
export const CapabilityManifestSchema = z.object({
  name: z.string(),
  version: z.string(),
  kind: z.string(),
  entry: z.string().min(1).max(256),
}).passthrough();

/** A capability manifest as the installer read it. */
export type CapabilityManifest = z.output<typeof CapabilityManifestSchema>;

/** Options for {@linkcode CapabilityInstaller}. */
export interface CapabilityInstallerOptions {
  /** The host's data dir; capabilities live in `DATA_DIR/capabilities/NAME/`. */
  dataDir: string;
  /**
   * The capability runtime's own check of an unpacked capability, run after
   * the installer's (plugin.json parses, name, version and kind match, the
   * entry file exists) and before anything is replaced. Throw to refuse.
   */
  validate?: (dir: string, manifest: CapabilityManifest) => Promise<void>;
  /** Told once a capability version is in place. Its failures are logged, not thrown. */
  installed?: (name: string, version: string) => void | Promise<void>;
  /** Told once a capability is removed. Its failures are logged, not thrown. */
  removed?: (name: string) => void | Promise<void>;
  /** Where notification failures are logged. */
  log?: (line: string) => void;
  /** Test-only: runs after the old dir is moved aside and before the new one takes its place. */
  faults?: { swap?: () => void | Promise<void> };
}

const MAX_MANIFEST_BYTES = 64 * 1024;

/**
 * Installs capability plugins as dirs: `DATA_DIR/capabilities/NAME/` holds
 * the unpacked plugin (`plugin.json` with `kind: "capability"` and its files).
 *
 * A new version is staged in `DATA_DIR/capabilities/.staging/`, checked, and
 * renamed into place; the previous dir is moved aside first and deleted only
 * after the new one is in, so a failure at any step leaves the previous
 * version as it was. A host that stops between the two renames puts the
 * previous version back at its next start.
 */
export class CapabilityInstaller implements PluginInstaller {
  readonly #root: string;
  readonly #staging: string;
  readonly #options: CapabilityInstallerOptions;
  #swept = false;

  /** Install under `options.dataDir/capabilities`. */
  constructor(options: CapabilityInstallerOptions) {
    this.#options = options;
    this.#root = join(options.dataDir, "capabilities");
    this.#staging = join(this.#root, ".staging");
  }

  /** `DATA_DIR/capabilities`. */
  get root(): string {
    return this.#root;
  }

  /** Where an installed capability's dir is (whether or not it is installed). */
  dirOf(name: string): string {
    return join(this.#root, name);
  }

  /** Move the unpacked capability in `dir` into place, replacing the installed version. */
  async install(dir: string, expected: ExpectedPlugin): Promise<{ name: string; version: string }> {
    await this.#prepare();
    const id = crypto.randomUUID();
    const staged = join(this.#staging, `new-${id}`);
    await moveDir(dir, staged);
    try {
      const manifest = await readCapabilityManifest(staged, expected);
      await this.#options.validate?.(staged, manifest);
      const final = this.dirOf(expected.name);
      const aside = join(this.#staging, `old-${expected.name}--${id}`);
      let hadOld = true;
      try {
        await Deno.rename(final, aside);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        hadOld = false;
      }
      try {
        await this.#options.faults?.swap?.();
        await Deno.rename(staged, final);
      } catch (error) {
        if (hadOld) await Deno.rename(aside, final);
        throw error;
      }
      if (hadOld) await Deno.remove(aside, { recursive: true }).catch(() => {});
    } finally {
      await Deno.remove(staged, { recursive: true }).catch(() => {});
    }
    await this.#notify(() => this.#options.installed?.(expected.name, expected.version));
    return { name: expected.name, version: expected.version };
  }

  /** Delete `DATA_DIR/capabilities/NAME/`. */
  async remove(name: string): Promise<void> {
    await this.#prepare();
    const gone = join(this.#staging, `gone-${crypto.randomUUID()}`);
    try {
      await Deno.rename(this.dirOf(name), gone);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    await Deno.remove(gone, { recursive: true }).catch(() => {});
    await this.#notify(() => this.#options.removed?.(name));
  }

  /** Whether `DATA_DIR/capabilities/NAME/plugin.json` says this version. */
  async has(name: string, version: string): Promise<boolean> {
    try {
      const text = await Deno.readTextFile(join(this.dirOf(name), "plugin.json"));
      return JSON.parse(text)?.version === version;
    } catch {
      return false;
    }
  }

  async #notify(fn: () => void | Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      (this.#options.log ?? console.error)(
        `roam: the capability runtime failed on a notification: ${(error as Error).message}`,
      );
    }
  }

  /** Make the dirs; at first use, undo what a stopped host left half done. */
  async #prepare(): Promise<void> {
    await Deno.mkdir(this.#staging, { recursive: true, mode: 0o700 });
    if (this.#swept) return;
    this.#swept = true;
    for await (const entry of Deno.readDir(this.#staging)) {
      const path = join(this.#staging, entry.name);
      const old = entry.name.match(/^old-([a-z][a-z0-9-]*)--/);
      if (old) {
        try {
          await Deno.stat(this.dirOf(old[1]));
        } catch {
          // The host stopped between moving the old version aside and the new one in.
          await Deno.rename(path, this.dirOf(old[1])).catch(() => {});
          continue;
        }
      }
      await Deno.remove(path, { recursive: true }).catch(() => {});
    }
  }
}

/**
 * Read and check an unpacked capability's `plugin.json` against what the
 * index says: name, version and kind match, and the entry file exists.
 *
 * @throws {RoamError} `invalid_input` when anything differs or is missing.
 */
export async function readCapabilityManifest(
  dir: string,
  expected: ExpectedPlugin,
): Promise<CapabilityManifest> {
  const label = `${expected.name} ${expected.version}`;
  const path = join(dir, "plugin.json");
  let value: unknown;
  try {
    const info = await Deno.stat(path);
    if (info.size > MAX_MANIFEST_BYTES) throw new Error(`it is ${info.size} bytes`);
    value = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new RoamError(
      "invalid_input",
      `the archive of ${label} has no readable plugin.json: ${(error as Error).message}`,
      { name: expected.name },
    );
  }
  const parsed = CapabilityManifestSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RoamError(
      "invalid_input",
      `plugin.json in the archive of ${label}: ${issue.path.join(".")}: ${issue.message}`,
      { name: expected.name },
    );
  }
  const manifest = parsed.data;
  if (
    manifest.name !== expected.name || manifest.version !== expected.version ||
    manifest.kind !== "capability"
  ) {
    throw new RoamError(
      "invalid_input",
      `the archive of ${label} holds ${manifest.kind} plugin ${manifest.name} ${manifest.version}, not what the index says; it was not installed`,
      { expected, found: { name: manifest.name, version: manifest.version, kind: manifest.kind } },
    );
  }
  const entry = manifest.entry;
  if (entry.startsWith("/") || entry.split("/").includes("..") || entry.includes("\\")) {
    throw new RoamError(
      "invalid_input",
      `plugin.json in the archive of ${label}: entry: must be a relative path inside the plugin dir`,
      { entry },
    );
  }
  try {
    if (!(await Deno.stat(join(dir, entry))).isFile) throw new Error("not a file");
  } catch {
    throw new RoamError(
      "invalid_input",
      `the archive of ${label} has no entry file ${entry}, which its plugin.json names`,
      { entry },
    );
  }
  return manifest;
}

async function moveDir(from: string, to: string): Promise<void> {
  try {
    await Deno.rename(from, to);
  } catch (error) {
    // EXDEV: the staging dir is on another file system than the unpacked dir.
    if (!/EXDEV|cross-device/i.test(String((error as Error).message))) throw error;
    await copyDir(from, to);
    await Deno.remove(from, { recursive: true });
  }
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory) await copyDir(src, dst);
    else if (entry.isFile) await Deno.copyFile(src, dst);
  }
}
