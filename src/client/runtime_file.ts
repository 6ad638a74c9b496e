import { join } from "node:path";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";

/** What a running host writes to `DATA_DIR/host.json` so local tools can find it. */
export const RuntimeInfoSchema = z.object({
  pid: z.number().int(),
  name: z.string(),
  url: z.string(),
  urls: z.array(z.string()),
  version: z.string(),
  startedAt: z.string(),
  /** The mesh secret file, so local tools can mint tokens. */
  secretFile: z.string(),
  /** When the process started (Linux clock ticks), to tell it from a later process with the same pid. */
  pidStart: z.string().optional(),
});

/** What a running host writes to `DATA_DIR/host.json`. */
export type RuntimeInfo = z.infer<typeof RuntimeInfoSchema>;

/** The path of the runtime file in a data dir. */
export function runtimeFilePath(dataDir: string): string {
  return join(dataDir, "host.json");
}

/**
 * The runtime file of the host using `dataDir`, when that host is still
 * running; undefined otherwise (none, unreadable, or left by a dead process).
 */
export async function readRuntimeInfo(dataDir: string): Promise<RuntimeInfo | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(runtimeFilePath(dataDir));
  } catch {
    return undefined;
  }
  let info: RuntimeInfo;
  try {
    info = RuntimeInfoSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
  return processAlive(info.pid, info.pidStart) ? info : undefined;
}

/** Refuse to start a second host on a data dir that a live host uses. */
export async function claimDataDir(dataDir: string): Promise<void> {
  const running = await readRuntimeInfo(dataDir);
  if (running) {
    throw new RoamError(
      "conflict",
      `the data dir ${dataDir} is in use by host "${running.name}" (pid ${running.pid}, ${running.url}); stop it or pass another --data-dir`,
      { dataDir, pid: running.pid, url: running.url },
    );
  }
}

/** Write the runtime file atomically (temporary file, then rename). */
export async function writeRuntimeInfo(dataDir: string, info: RuntimeInfo): Promise<void> {
  const path = runtimeFilePath(dataDir);
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
  await Deno.rename(tmp, path);
}

/** Remove the runtime file if it is this process's. */
export async function removeRuntimeInfo(dataDir: string): Promise<void> {
  try {
    const info = RuntimeInfoSchema.parse(
      JSON.parse(await Deno.readTextFile(runtimeFilePath(dataDir))),
    );
    if (info.pid === Deno.pid) await Deno.remove(runtimeFilePath(dataDir));
  } catch { /* gone already, or not ours */ }
}

function processAlive(pid: number, pidStart?: string): boolean {
  if (pid === Deno.pid) return true;
  if (Deno.build.os !== "linux") return true;
  try {
    const start = processStart(pid);
    if (start === undefined) return false;
    // A reused pid that belongs to a later process does not hold the dir.
    return pidStart === undefined || start === pidStart;
  } catch (error) {
    // Without permission to read /proc, trust the file: the host removes it when it stops.
    return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied;
  }
}

/** When a process started, in clock ticks since boot (field 22 of /proc/PID/stat); undefined when it is gone. */
export function processStart(pid: number): string | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  // The command name (field 2) may hold spaces; fields after it start past the last ')'.
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}
