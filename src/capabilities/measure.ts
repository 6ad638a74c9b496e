/**
 * What a process group uses: resident memory from Linux's /proc and GPU
 * memory from nvidia-smi (absent, and 0, without one).
 *
 * @module
 */

const PAGE = 4096;

/** The pids of every process in process group `pgid` (Linux; empty elsewhere). */
export function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (Number(fields[2]) === pgid) pids.push(Number(entry.name));
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // no /proc
  }
  return pids;
}

/** Resident memory of `pids` together, MB. */
export function rssMb(pids: number[]): number {
  let pages = 0;
  for (const pid of pids) {
    try {
      pages += Number(Deno.readTextFileSync(`/proc/${pid}/statm`).split(" ")[1]) || 0;
    } catch {
      // gone meanwhile
    }
  }
  return Math.round((pages * PAGE) / (1024 * 1024));
}

let nvidiaSmi: boolean | undefined;
let usage: { at: number; byPid: Promise<Map<number, number>> } | undefined;

/** GPU memory by pid from one nvidia-smi run, shared for a second by every caller. */
function gpuUsage(): Promise<Map<number, number>> {
  if (usage && Date.now() - usage.at < 1_000) return usage.byPid;
  usage = { at: Date.now(), byPid: queryNvidiaSmi() };
  return usage.byPid;
}

async function queryNvidiaSmi(): Promise<Map<number, number>> {
  const byPid = new Map<number, number>();
  try {
    const out = await new Deno.Command("nvidia-smi", {
      args: ["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(5_000),
    }).output();
    nvidiaSmi = true;
    if (!out.success) return byPid;
    for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
      const [pid, used] = line.split(",").map((s) => Number(s.trim()));
      if (pid) byPid.set(pid, (byPid.get(pid) ?? 0) + (used || 0));
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) nvidiaSmi = false;
  }
  return byPid;
}

/** GPU memory used by `pids` together, MB; 0 without nvidia-smi (asked at most once a second). */
export async function vramMb(pids: number[]): Promise<number> {
  if (nvidiaSmi === false || pids.length === 0) return 0;
  const byPid = await gpuUsage();
  return pids.reduce((sum, pid) => sum + (byPid.get(pid) ?? 0), 0);
}
