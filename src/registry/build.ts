import { join, relative } from "node:path";
import { createHash } from "node:crypto";
import { RoamError } from "../errors/mod.ts";
import { packPlugin, readManifest } from "../plugins/mod.ts";
import { type ArchiveFile, createArchive } from "./archive.ts";
import { readCapabilityManifest } from "./capability_installer.ts";
import {
  INDEX_FORMAT,
  type IndexPlugin,
  IndexPluginSchema,
  type RegistryIndex,
  type RegistryIndexInput,
  RegistryIndexSchema,
} from "./format.ts";
import { signIndex, verifyIndex } from "./signature.ts";

/** The `minRoam` of a plugin whose manifest names none: the first roam with a registry. */
export const DEFAULT_MIN_ROAM = "0.1.0";

/** Names never put in a capability's archive. */
const SKIPPED = new Set(["__pycache__", "node_modules", ".venv", "venv", ".pytest_cache", "dist"]);

/** Largest file put in an archive by the builder. */
const MAX_SOURCE_FILE_BYTES = 256 * 1024 * 1024;

/** Options for {@linkcode buildRegistry}. */
export interface BuildOptions {
  /** A dir of plugin dirs (each with `plugin.json`). */
  pluginsDir: string;
  /** Where `index.json` and `archives/` go. */
  outDir: string;
  /** A PKCS#8 PEM ed25519 private key: also write `index.json.sig`. */
  signingKey?: string;
  /** Write nothing; report what differs from what `outDir` holds. */
  check?: boolean;
  /** The index's `name`. */
  name?: string;
  /** Told of each plugin as it is built. */
  log?: (line: string) => void;
}

/** What {@linkcode buildRegistry} made. */
export interface BuildResult {
  /** The index. */
  index: RegistryIndex;
  /** Its exact bytes. */
  indexBytes: Uint8Array;
  /** Each archive: its path relative to `outDir`, sha256 and size. */
  archives: { path: string; sha256: string; size: number }[];
  /** In check mode: what differs (empty when `outDir` is current). Else what was removed. */
  problems: string[];
}

/**
 * Build a registry from every plugin dir in `pluginsDir`: agent plugins are
 * packed (so installs need no bundler) and archived as `plugin.json` plus
 * `bundle.cjs`; capability plugins are archived as they are (without
 * caches, `dist` or dot files). Output is byte for byte the same for the
 * same plugins: archives are deterministic, the index has no dates.
 *
 * Writes `OUT/index.json`, `OUT/archives/NAME-VERSION.tar.gz`, and with a
 * key `OUT/index.json.sig`; removes archives no plugin makes any more. With
 * `check`, writes nothing and lists every difference instead.
 */
export async function buildRegistry(options: BuildOptions): Promise<BuildResult> {
  const log = options.log ?? (() => {});
  const dirs: string[] = [];
  for await (const entry of Deno.readDir(options.pluginsDir)) {
    if (entry.isDirectory && !entry.name.startsWith(".")) dirs.push(entry.name);
  }
  dirs.sort();
  const plugins: IndexPlugin[] = [];
  const archives: { path: string; data: Uint8Array; sha256: string }[] = [];
  for (const name of dirs) {
    const dir = join(options.pluginsDir, name);
    try {
      await Deno.stat(join(dir, "plugin.json"));
    } catch {
      log(`skipped ${dir}: no plugin.json`);
      continue;
    }
    const built = await buildPlugin(dir);
    const path = `archives/${built.entry.name}-${built.entry.versions[0].version}.tar.gz`;
    built.entry.versions[0].archive.url = path;
    plugins.push(built.entry);
    archives.push({ path, data: built.data, sha256: built.entry.versions[0].archive.sha256 });
    log(`${built.entry.kind} ${built.entry.name} ${built.entry.versions[0].version}: ${path}`);
  }
  const input: RegistryIndexInput = {
    format: INDEX_FORMAT,
    ...(options.name ? { name: options.name } : {}),
    plugins,
  };
  const index = RegistryIndexSchema.parse(input);
  const indexBytes = new TextEncoder().encode(JSON.stringify(input, null, 2) + "\n");
  const result: BuildResult = {
    index,
    indexBytes,
    archives: archives.map((a) => ({ path: a.path, sha256: a.sha256, size: a.data.byteLength })),
    problems: [],
  };
  const wanted = new Set(archives.map((a) => a.path));
  const present = await listArchives(options.outDir);
  const indexPath = join(options.outDir, "index.json");
  const sigPath = join(options.outDir, "index.json.sig");
  const oldSig = await readOptional(sigPath);
  const sigValid = oldSig !== undefined && (() => {
    try {
      verifyIndex(indexBytes, oldSig, sigPath);
      return true;
    } catch {
      return false;
    }
  })();

  if (options.check) {
    const oldIndex = await readOptional(indexPath);
    if (!oldIndex || !sameBytes(oldIndex, indexBytes)) {
      result.problems.push(`${indexPath} is out of date`);
    }
    for (const a of archives) {
      const old = await readOptional(join(options.outDir, a.path));
      if (!old || !sameBytes(old, a.data)) {
        result.problems.push(`${join(options.outDir, a.path)} is out of date or missing`);
      }
    }
    for (const p of present) {
      if (!wanted.has(p)) result.problems.push(`${join(options.outDir, p)} is left over`);
    }
    if (oldSig !== undefined && !sigValid) {
      result.problems.push(`${sigPath} does not sign the current index`);
    }
    return result;
  }

  await Deno.mkdir(join(options.outDir, "archives"), { recursive: true });
  for (const a of archives) {
    const path = join(options.outDir, a.path);
    const old = await readOptional(path);
    if (!old || !sameBytes(old, a.data)) await Deno.writeFile(path, a.data);
  }
  for (const p of present) {
    if (!wanted.has(p)) {
      await Deno.remove(join(options.outDir, p));
      result.problems.push(`removed ${p}`);
    }
  }
  await Deno.writeFile(indexPath, indexBytes);
  if (options.signingKey) {
    await Deno.writeTextFile(sigPath, signIndex(indexBytes, options.signingKey));
  } else if (oldSig !== undefined && !sigValid) {
    // A signature of an older index would make every install refuse this one.
    await Deno.remove(sigPath);
    result.problems.push(`removed ${sigPath}: it signed an older index; sign again with --sign`);
  }
  return result;
}

async function buildPlugin(dir: string): Promise<{ entry: IndexPlugin; data: Uint8Array }> {
  const raw = JSON.parse(await Deno.readTextFile(join(dir, "plugin.json")));
  let files: ArchiveFile[];
  let entry: IndexPlugin;
  if (raw?.kind === "agent") {
    const { manifest } = await readManifest(dir);
    const out = await Deno.makeTempDir({ prefix: "roam-registry-pack-" });
    try {
      const packed = await packPlugin(dir, { outDir: out });
      files = [
        { path: "plugin.json", data: await Deno.readFile(packed.manifestPath) },
        { path: "bundle.cjs", data: await Deno.readFile(packed.bundlePath) },
      ];
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
    entry = {
      name: manifest.name,
      kind: "agent",
      description: manifest.description,
      versions: [{
        version: manifest.version,
        archive: { url: "", sha256: "", size: 0 },
        minRoam: manifest.minRoam ?? DEFAULT_MIN_ROAM,
        permissions: Object.fromEntries(Object.entries(manifest.permissions)),
        resources: manifest.resources,
      }],
    };
  } else if (raw?.kind === "capability") {
    const manifest = await readCapabilityManifest(dir, {
      name: String(raw.name),
      version: String(raw.version),
      kind: "capability",
    });
    files = await collectFiles(dir);
    entry = {
      name: manifest.name,
      kind: "capability",
      description: String(manifest.description ?? ""),
      versions: [{
        version: manifest.version,
        archive: { url: "", sha256: "", size: 0 },
        minRoam: typeof manifest.minRoam === "string" ? manifest.minRoam : DEFAULT_MIN_ROAM,
        permissions: (manifest.permissions ?? {}) as Record<string, string[] | boolean>,
        ...(manifest.environment
          ? { environment: manifest.environment as Record<string, unknown> }
          : {}),
        resources: (manifest.resources ?? {}) as Record<string, unknown>,
      }],
    };
  } else {
    throw new RoamError(
      "invalid_input",
      `${join(dir, "plugin.json")}: kind: must be "agent" or "capability"`,
      { dir },
    );
  }
  const data = await createArchive(files);
  const version = entry.versions[0];
  version.archive.sha256 = createHash("sha256").update(data).digest("hex");
  version.archive.size = data.byteLength;
  version.archive.url = "archives/placeholder.tar.gz";
  const checked = IndexPluginSchema.safeParse(entry);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new RoamError(
      "invalid_input",
      `${join(dir, "plugin.json")}: ${
        issue.path.slice(2).join(".") || issue.path.join(".")
      }: ${issue.message} (as the registry index needs it)`,
      { dir, issues: checked.error.issues.map(({ path, message }) => ({ path, message })) },
    );
  }
  return { entry, data };
}

/** Every file under `dir`, sorted, without dot files, caches and `dist`; links are refused. */
async function collectFiles(dir: string, root = dir): Promise<ArchiveFile[]> {
  const out: ArchiveFile[] = [];
  const entries = [];
  for await (const entry of Deno.readDir(dir)) entries.push(entry);
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    if (entry.name.startsWith(".") || SKIPPED.has(entry.name) || entry.name.endsWith(".pyc")) {
      continue;
    }
    const path = join(dir, entry.name);
    if (entry.isSymlink) {
      throw new RoamError(
        "invalid_input",
        `${path} is a symbolic link; plugin archives hold only files and dirs: copy what it points to`,
        { path },
      );
    }
    if (entry.isDirectory) {
      out.push(...await collectFiles(path, root));
      continue;
    }
    const info = await Deno.stat(path);
    if (info.size > MAX_SOURCE_FILE_BYTES) {
      throw new RoamError(
        "too_large",
        `${path} is ${info.size} bytes; too large for a plugin archive`,
        {
          path,
        },
      );
    }
    out.push({
      path: relative(root, path).split("\\").join("/"),
      data: await Deno.readFile(path),
      executable: ((info.mode ?? 0) & 0o111) !== 0,
    });
  }
  return out;
}

async function listArchives(outDir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const entry of Deno.readDir(join(outDir, "archives"))) {
      if (entry.isFile && entry.name.endsWith(".tar.gz")) out.push(`archives/${entry.name}`);
    }
  } catch { /* no archives yet */ }
  return out.sort();
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
