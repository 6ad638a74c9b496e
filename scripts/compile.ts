/**
 * Build the single `roam` binary with `deno compile`.
 *
 * ```sh
 * deno task compile                       # dist/roam
 * deno task compile --output /tmp/roam    # elsewhere
 * DENORT_BIN=/opt/denort-2.9.6 deno task compile   # offline, with a local runtime
 * ```
 *
 * `deno compile` needs the `denort` runtime of the same Deno version. It
 * downloads it from dl.deno.land unless `DENORT_BIN` names a local copy (Deno
 * reads that variable itself; this script only checks it). Every worker
 * module is embedded with `--include`: those found under `src/` as
 * `new Worker(new URL("<literal>", import.meta.url), ...)` plus
 * {@linkcode WORKER_MODULES}.
 *
 * Exit status: 0 built, 1 the build failed, 2 bad arguments or a source that
 * cannot be compiled correctly.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describeSite, scanSources, scanWorkerModules, type WorkerScan } from "./compile_scan.ts";

export { scanWorkerModules, type WorkerScan };

/**
 * Worker modules to embed that the scan of `src/` cannot see (for example a
 * worker started from outside `src/`), relative to the repository root.
 */
export const WORKER_MODULES: readonly string[] = [
  // capabilities (runtime): the worker libraries, read at run time and written under DATA_DIR/lib.
  "workers/deno/roam_worker.ts",
  "workers/python/roam_worker.py",
];

/** The permission and unstable flags the binary runs with. */
export const COMPILE_FLAGS: readonly string[] = [
  "--allow-all",
  "--unstable-net",
  "--unstable-worker-options",
];

/** The repository root (the folder above `scripts/`). */
export const ROOT: string = dirname(dirname(fileURLToPath(import.meta.url)));

/** Where the binary goes unless `--output` says otherwise. */
export const DEFAULT_OUTPUT = "dist/roam";

/**
 * Every module `deno compile` must embed with `--include`: the worker modules
 * found under `root/src` and {@linkcode WORKER_MODULES}, relative to `root`,
 * sorted and unique. `unresolved` lists worker sites whose module cannot be
 * known at compile time.
 */
export async function compileIncludes(
  root: string = ROOT,
): Promise<{ modules: string[]; unresolved: string[] }> {
  const scan = await scanWorkerModules(root);
  const modules = [...new Set([...scan.modules, ...WORKER_MODULES])].sort();
  return { modules, unresolved: scan.unresolved };
}

/** The `deno compile` argument list (without the `deno` executable). */
export function compileArgs(
  options: { entry: string; output: string; includes: readonly string[]; target?: string },
): string[] {
  return [
    "compile",
    ...COMPILE_FLAGS,
    ...options.includes.flatMap((module) => ["--include", module]),
    ...(options.target ? ["--target", options.target] : []),
    "--output",
    options.output,
    options.entry,
  ];
}

/** Why a `DENORT_BIN` value cannot be used, or null when it can. */
export async function checkDenortBin(path: string): Promise<string | null> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return `DENORT_BIN=${path} does not exist`;
  }
  if (!info.isFile) return `DENORT_BIN=${path} is not a file`;
  if (info.mode !== null && (info.mode & 0o111) === 0) {
    return `DENORT_BIN=${path} is not executable (chmod +x it)`;
  }
  return null;
}

/** Whether `deno compile`'s error output says the runtime could not be downloaded. */
export function isRuntimeDownloadFailure(errorText: string): boolean {
  return /dl\.deno\.land|denort-[\w.-]+\.zip/.test(errorText) &&
    /error sending request|dns error|Connect|connection|timed out|status code|404/i.test(
      errorText,
    );
}

// deno prints colours and a "Stack backtrace:" block after its error chain.
function cleanDenoError(text: string): string {
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  const cut = plain.indexOf("Stack backtrace:");
  return (cut < 0 ? plain : plain.slice(0, cut)).trimEnd();
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        output: { type: "string", short: "o" },
        entry: { type: "string" },
        target: { type: "string" },
        "dry-run": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values;
  if (values.help) {
    console.log(
      "usage: deno task compile [--output PATH] [--target TRIPLE] [--entry main.ts] [--dry-run]\n" +
        "  builds the roam binary (default dist/roam); set DENORT_BIN to a denort " +
        `${Deno.version.deno} binary to build without downloading the runtime`,
    );
    return 0;
  }
  const entry = values.entry ?? "main.ts";
  const outputPath = values.output === undefined
    ? join(ROOT, DEFAULT_OUTPUT)
    : resolve(Deno.cwd(), values.output);
  const entryPath = isAbsolute(entry) ? entry : join(ROOT, entry);

  try {
    await Deno.stat(entryPath);
  } catch {
    throw new UsageError(`cannot find the entry module ${entryPath}`);
  }

  const sources = await scanSources(join(ROOT, "src"));
  const computed = sources.dynamicImports.filter((site) => !site.literal);
  const { modules, unresolved } = await compileIncludes(ROOT);
  const problems = [
    ...computed.map((site) =>
      `${describeSite(site, ROOT)}  (import() of a computed specifier fails in a compiled binary)`
    ),
    ...unresolved.map((line) =>
      `${line}  (a worker must be new Worker(new URL("<literal>", import.meta.url), ...) to be embedded)`
    ),
  ];
  for (const module of modules) {
    try {
      await Deno.stat(join(ROOT, module));
    } catch {
      problems.push(`${module}: worker module to embed does not exist`);
    }
  }
  if (problems.length) {
    throw new UsageError(
      `the sources are not compile-ready:\n  ${problems.join("\n  ")}\n` +
        "  (tests/compile_ready_test.ts checks the same rules)",
    );
  }

  const denort = Deno.env.get("DENORT_BIN");
  if (denort) {
    const problem = await checkDenortBin(denort);
    if (problem) {
      throw new UsageError(
        `${problem}; point it at a denort ${Deno.version.deno} binary for this platform`,
      );
    }
    console.error(
      `compile: runtime from DENORT_BIN=${denort} (must be denort ${Deno.version.deno})`,
    );
  } else {
    console.error(
      `compile: DENORT_BIN is not set; deno compile will download denort ${Deno.version.deno} ` +
        "from dl.deno.land",
    );
  }
  console.error(
    modules.length
      ? `compile: embedding ${modules.length} worker module(s): ${modules.join(", ")}`
      : "compile: no worker modules to embed",
  );

  const args = compileArgs({
    entry: relative(ROOT, entryPath) || entryPath,
    output: outputPath,
    includes: modules,
    target: values.target,
  });
  console.error(`compile: deno ${args.join(" ")}`);
  if (values["dry-run"]) return 0;

  await Deno.mkdir(dirname(outputPath), { recursive: true });
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).spawn();
  const errorText = await relayProgress(child.stderr);
  const status = await child.status;
  if (status.success) {
    console.error(`compile: wrote ${relative(Deno.cwd(), outputPath) || outputPath}`);
    return 0;
  }
  if (isRuntimeDownloadFailure(errorText)) {
    const url = errorText.match(/https:\/\/dl\.deno\.land\/\S+?\.zip/)?.[0] ?? "dl.deno.land";
    console.error(
      `compile: failed: deno compile could not download the Deno runtime (${url}); ` +
        `set DENORT_BIN to a denort ${Deno.version.deno} binary for this platform, ` +
        "or run where dl.deno.land is reachable",
    );
  } else {
    console.error(
      `compile: failed: deno compile exited ${status.code}:\n${cleanDenoError(errorText)}`,
    );
  }
  return 1;
}

/**
 * Pass deno's progress lines through as they come and hold back everything
 * from its first `error` line, which is returned for a cleaner report.
 */
async function relayProgress(stream: ReadableStream<Uint8Array>): Promise<string> {
  let held = "";
  let pending = "";
  let failing = false;
  const encoder = new TextEncoder();
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline + 1);
      pending = pending.slice(newline + 1);
      // deno-lint-ignore no-control-regex
      if (/^(\x1b\[[0-9;]*m)*error/.test(line)) failing = true;
      if (failing) held += line;
      else await Deno.stderr.write(encoder.encode(line));
    }
  }
  return held + pending;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`compile: ${error.message}`);
      Deno.exit(2);
    }
    console.error(`compile: failed: ${(error as Error)?.message ?? String(error)}`);
    Deno.exit(1);
  }
}
