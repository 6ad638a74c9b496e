import { basename, delimiter, join, resolve } from "node:path";
import { RoamError } from "../errors/mod.ts";
import { sha256File } from "./digest.ts";
import {
  BUNDLE_FILE,
  MANIFEST_FILE,
  MAX_BUNDLE_BYTES,
  type PackedManifest,
  readManifest,
} from "./manifest.ts";
import { normalizePath } from "./permissions.ts";

/**
 * Modules an agent bundle leaves to the runtime: the agent SDK and zod. The
 * runtime hands them to the bundle's `require`, so that every agent shares
 * the host's copy of the SDK.
 */
export const BUNDLE_EXTERNALS = ["@roam/agent", "zod"] as const;

/** Options for {@linkcode packPlugin}. */
export interface PackOptions {
  /** Where to write `plugin.json` and `bundle.cjs`. Default `DIR/dist`. */
  outDir?: string;
  /** The deno executable. Default: this one when it is deno, else `deno` on PATH. */
  deno?: string;
  /** Longest a bundle may take. Default 120 000 ms. */
  timeoutMs?: number;
  /** Cancels the bundling. */
  signal?: AbortSignal;
}

/** What {@linkcode packPlugin} wrote. */
export interface PackResult {
  /** The manifest written to `OUT/plugin.json`, naming its bundle and sha256. */
  manifest: PackedManifest;
  /** The output dir. */
  outDir: string;
  /** `OUT/plugin.json`. */
  manifestPath: string;
  /** `OUT/bundle.cjs`. */
  bundlePath: string;
  /** sha256 of the bundle, 64 hex digits. */
  sha256: string;
  /** Size of the bundle in bytes. */
  size: number;
}

/**
 * Pack an agent plugin: validate `DIR/plugin.json`, bundle its entry and
 * everything it imports (except {@linkcode BUNDLE_EXTERNALS}) into one
 * CommonJS file with `deno bundle`, and write that file and a manifest that
 * records its sha256. The host runs exactly these bytes, never the source.
 *
 * A plugin dir with its own `deno.json` (or `deno.jsonc`) is bundled with
 * that config; any other is bundled with `--no-config`, so that a config in
 * a parent dir never leaks in.
 *
 * @example
 * const packed = await packPlugin("plugins/echo", { outDir: "/tmp/echo" });
 * console.log(packed.sha256, packed.size);
 */
export async function packPlugin(dir: string, options: PackOptions = {}): Promise<PackResult> {
  const root = normalizePath(dir);
  const { manifest, path: sourceManifest } = await readManifest(root);
  const outDir = normalizePath(options.outDir ?? join(root, "dist"));
  if (outDir === root) {
    throw new RoamError(
      "invalid_input",
      `the output dir must not be the plugin dir itself (its plugin.json would be overwritten); choose another with -o, or leave the default ${
        join(root, "dist")
      }`,
      { dir: root },
    );
  }
  const entry = resolve(root, manifest.entry);
  try {
    if (!(await Deno.stat(entry)).isFile) throw new Deno.errors.NotFound();
  } catch {
    throw new RoamError(
      "not_found",
      `plugin.json at ${sourceManifest}: entry: ${manifest.entry} is not a file in ${root}`,
      { entry },
    );
  }
  const deno = options.deno ?? await findDeno();
  const config = await ownConfig(root);

  await Deno.mkdir(outDir, { recursive: true });
  const work = await Deno.makeTempDir({ dir: outDir, prefix: ".pack-" });
  try {
    const built = join(work, BUNDLE_FILE);
    await runBundle(deno, {
      cwd: root,
      args: [
        "bundle",
        ...(config ? ["--config", config] : ["--no-config"]),
        "--format=cjs",
        "--platform=deno",
        ...BUNDLE_EXTERNALS.flatMap((name) => ["--external", name]),
        "--output",
        built,
        entry,
      ],
      timeoutMs: options.timeoutMs ?? 120_000,
      signal: options.signal,
    });
    let digest: { sha256: string; size: number };
    try {
      digest = await sha256File(built, { maxBytes: MAX_BUNDLE_BYTES });
    } catch (error) {
      if (error instanceof RoamError && error.code === "too_large") {
        throw new RoamError(
          "too_large",
          `the bundle of ${manifest.name} is larger than ${MAX_BUNDLE_BYTES} bytes (8 MiB); leave large data out of the code and load it at run time`,
          { limit: MAX_BUNDLE_BYTES },
        );
      }
      throw error;
    }
    const packed: PackedManifest = {
      ...manifest,
      bundle: { file: BUNDLE_FILE, sha256: digest.sha256 },
    };
    const bundlePath = join(outDir, BUNDLE_FILE);
    const manifestPath = join(outDir, MANIFEST_FILE);
    await Deno.writeTextFile(join(work, MANIFEST_FILE), JSON.stringify(packed, null, 2) + "\n");
    await Deno.rename(built, bundlePath);
    await Deno.rename(join(work, MANIFEST_FILE), manifestPath);
    return { manifest: packed, outDir, manifestPath, bundlePath, ...digest };
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * The deno executable to bundle with: this process's when it is deno (under
 * `deno run`), else the first `deno` on PATH (a compiled roam binary).
 */
export async function findDeno(): Promise<string> {
  const self = Deno.execPath();
  if (/^deno(\.exe)?$/.test(basename(self))) return self;
  const names = Deno.build.os === "windows" ? ["deno.exe"] : ["deno"];
  for (const dir of (Deno.env.get("PATH") ?? "").split(delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      try {
        const info = await Deno.stat(join(dir, name));
        if (info.isFile) return join(dir, name);
      } catch { /* not here */ }
    }
  }
  throw new RoamError(
    "unavailable",
    "packing needs the deno CLI on PATH (deno 2.x, from https://deno.com or 'npm i -g deno'); or pack on a machine that has it and add the packed dir",
    {},
  );
}

async function ownConfig(dir: string): Promise<string | undefined> {
  for (const name of ["deno.json", "deno.jsonc"]) {
    try {
      if ((await Deno.stat(join(dir, name))).isFile) return join(dir, name);
    } catch { /* none */ }
  }
  return undefined;
}

async function runBundle(
  deno: string,
  options: { cwd: string; args: string[]; timeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new RoamError("timeout", "deno bundle took too long")),
    options.timeoutMs,
  );
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(deno, {
      args: options.args,
      cwd: options.cwd,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
  } catch (error) {
    if (controller.signal.aborted) throw aborted(controller.signal, options.timeoutMs);
    if (error instanceof Deno.errors.NotFound) {
      throw new RoamError(
        "unavailable",
        `packing needs the deno CLI; ${deno} does not exist (install deno 2.x and put it on PATH)`,
        { deno },
      );
    }
    throw new RoamError("unavailable", `cannot run ${deno}: ${(error as Error).message}`, {
      deno,
    });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
  if (controller.signal.aborted) throw aborted(controller.signal, options.timeoutMs);
  if (!output.success) {
    const lines = new TextDecoder().decode(output.stderr)
      // deno-lint-ignore no-control-regex -- colour codes, should a deno ignore NO_COLOR
      .replace(/\x1b\[[0-9;]*m/g, "")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !/is experimental/.test(l));
    throw new RoamError(
      "invalid_input",
      `deno bundle failed: ${lines.slice(0, 6).join(" ") || `exit status ${output.code}`}`,
      { code: output.code, stderr: lines.join("\n") },
    );
  }
}

function aborted(signal: AbortSignal, timeoutMs: number): RoamError {
  return signal.reason instanceof RoamError && signal.reason.code === "timeout"
    ? new RoamError("timeout", `deno bundle did not finish within ${timeoutMs} ms`, { timeoutMs })
    : new RoamError("cancelled", "packing was cancelled", {});
}
