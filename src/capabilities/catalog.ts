import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";
import {
  type CapabilityManifest,
  parseCapabilityManifest,
  validateCapabilityDir,
} from "./manifest.ts";

/** An installed capability: its manifest and where it lives. */
export interface InstalledCapability {
  /** The validated manifest. */
  manifest: CapabilityManifest;
  /** Its dir, `DATA_DIR/capabilities/<name>`. */
  dir: string;
}

/** Files and dirs never copied into an installed capability. */
const SKIP = new Set([".git", "__pycache__", "node_modules", ".venv"]);
/** Most files one capability dir may hold. */
const MAX_FILES = 10_000;

/**
 * The capabilities installed under `DATA_DIR/capabilities/<name>/`, each a
 * plugin dir with a `plugin.json` of kind `capability`. The dir is read
 * again when it changes, so a capability placed there by the registry is
 * seen without a restart. Installs go through `.staging/` and a rename.
 */
export class CapabilityCatalog {
  readonly #root: string;
  #cache = new Map<string, { mtime: string; entry: InstalledCapability | undefined }>();
  #problems = new Map<string, string>();

  /** A catalog of `root` (normally `DATA_DIR/capabilities`). */
  constructor(root: string) {
    this.#root = root;
  }

  /** Where capabilities live. */
  get root(): string {
    return this.#root;
  }

  /** Every installed capability, sorted by name. */
  list(): InstalledCapability[] {
    const found: InstalledCapability[] = [];
    const seen = new Set<string>();
    let entries: Deno.DirEntry[] = [];
    try {
      entries = [...Deno.readDirSync(this.#root)];
    } catch {
      return [];
    }
    for (const entry of entries) {
      if (!entry.isDirectory || entry.name.startsWith(".")) continue;
      seen.add(entry.name);
      const dir = join(this.#root, entry.name);
      const path = join(dir, "plugin.json");
      let mtime: string;
      try {
        // The inode too: a replaced dir may carry the same modification time.
        const stat = Deno.statSync(path);
        mtime = `${stat.ino}:${stat.mtime?.getTime()}:${stat.size}`;
      } catch {
        this.#problems.set(entry.name, `${path} is missing`);
        continue;
      }
      const cached = this.#cache.get(entry.name);
      if (cached && cached.mtime === mtime) {
        if (cached.entry) found.push(cached.entry);
        continue;
      }
      try {
        const manifest = parseCapabilityManifest(JSON.parse(Deno.readTextFileSync(path)), path);
        if (manifest.name !== entry.name) {
          throw new Error(`${path} names '${manifest.name}', not its dir '${entry.name}'`);
        }
        const installed = { manifest, dir };
        this.#cache.set(entry.name, { mtime, entry: installed });
        this.#problems.delete(entry.name);
        found.push(installed);
      } catch (error) {
        this.#cache.set(entry.name, { mtime, entry: undefined });
        this.#problems.set(entry.name, (error as Error).message);
      }
    }
    for (const name of [...this.#cache.keys()]) if (!seen.has(name)) this.#cache.delete(name);
    for (const name of [...this.#problems.keys()]) if (!seen.has(name)) this.#problems.delete(name);
    return found.sort((a, b) => a.manifest.name.localeCompare(b.manifest.name));
  }

  /** One installed capability, or undefined. */
  get(name: string): InstalledCapability | undefined {
    return this.list().find((c) => c.manifest.name === name);
  }

  /** Dirs under the root that are not valid capabilities, and why. */
  problems(): Record<string, string> {
    this.list();
    return Object.fromEntries(this.#problems);
  }

  /**
   * Install the capability in `source` (a plugin dir): validate it, copy it
   * to `.staging/`, validate the copy, and rename it into place, replacing
   * an installed one of the same name.
   */
  async add(
    source: string,
  ): Promise<{ manifest: CapabilityManifest; dir: string; replaced: boolean }> {
    const manifest = await validateCapabilityDir(source);
    const staging = join(this.#root, ".staging");
    await Deno.mkdir(staging, { recursive: true });
    const stage = join(staging, `${manifest.name}-${crypto.randomUUID().slice(0, 8)}`);
    const target = join(this.#root, manifest.name);
    let old: string | undefined;
    try {
      await copyDir(source, stage, { files: 0 });
      await validateCapabilityDir(stage);
      if (await exists(target)) {
        old = join(staging, `old-${manifest.name}-${crypto.randomUUID().slice(0, 8)}`);
        await Deno.rename(target, old);
      }
      await Deno.rename(stage, target);
    } catch (error) {
      if (old && !(await exists(target))) await Deno.rename(old, target).catch(() => {});
      await Deno.remove(stage, { recursive: true }).catch(() => {});
      if (error instanceof RoamError) throw error;
      throw new RoamError(
        "unavailable",
        `cannot install ${manifest.name}: ${(error as Error).message}`,
        {
          name: manifest.name,
        },
      );
    }
    if (old) await Deno.remove(old, { recursive: true }).catch(() => {});
    return { manifest, dir: target, replaced: old !== undefined };
  }

  /** Uninstall `name`. Returns whether it was installed. */
  async remove(name: string): Promise<boolean> {
    const entry = this.get(name);
    if (!entry) return false;
    const gone = join(this.#root, ".staging", `removed-${name}-${crypto.randomUUID().slice(0, 8)}`);
    await Deno.mkdir(join(this.#root, ".staging"), { recursive: true });
    await Deno.rename(entry.dir, gone);
    await Deno.remove(gone, { recursive: true }).catch(() => {});
    return true;
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function copyDir(from: string, to: string, count: { files: number }): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (SKIP.has(entry.name)) continue;
    if (++count.files > MAX_FILES) {
      throw new RoamError("too_large", `${from} holds more than ${MAX_FILES} files`, { from });
    }
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory) await copyDir(source, target, count);
    else if (entry.isFile) await Deno.copyFile(source, target);
    // Symbolic links are left out: an installed plugin is self-contained.
  }
}
