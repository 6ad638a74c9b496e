import { createHash } from "node:crypto";
import { join } from "node:path";

const SOURCES = {
  python: new URL("../../workers/python/roam_worker.py", import.meta.url),
  deno: new URL("../../workers/deno/roam_worker.ts", import.meta.url),
};

/**
 * Write the worker libraries that ship with roam (Python and Deno) under
 * `DATA_DIR/lib/worker-<hash>/`, so that a worker finds them wherever its
 * plugin is installed: `python/roam_worker.py` (put on PYTHONPATH) and
 * `deno/roam_worker.ts` with an import map naming it `roam_worker`.
 * Returns the dir; written once per content.
 */
export async function writeWorkerLibraries(dataDir: string): Promise<string> {
  const python = await Deno.readTextFile(SOURCES.python);
  const deno = await Deno.readTextFile(SOURCES.deno);
  const hash = createHash("sha256").update(python).update(deno).digest("hex").slice(0, 16);
  const dir = join(dataDir, "lib", `worker-${hash}`);
  const marker = join(dir, ".complete");
  if (await Deno.stat(marker).then(() => true, () => false)) return dir;
  await Deno.mkdir(join(dir, "python"), { recursive: true });
  await Deno.mkdir(join(dir, "deno"), { recursive: true });
  await Deno.writeTextFile(join(dir, "python", "roam_worker.py"), python);
  await Deno.writeTextFile(join(dir, "deno", "roam_worker.ts"), deno);
  await Deno.writeTextFile(
    join(dir, "deno", "import_map.json"),
    JSON.stringify({ imports: { roam_worker: "./roam_worker.ts" } }, null, 2) + "\n",
  );
  await Deno.writeTextFile(marker, "");
  return dir;
}
