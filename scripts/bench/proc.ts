/**
 * What Linux's `/proc` says about a process and the processes it started:
 * their resident memory and the CPU time they used. The bench uses it to
 * measure what idle agents cost a host (its own memory plus its runner
 * processes') and to wait until a host has finished starting its spare runner.
 *
 * @module
 */

/** The ids of `pid` and every process below it (children, their children, ...), `pid` first. */
export async function processTree(pid: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await readStat(Number(entry.name));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry.name));
    children.set(stat.ppid, list);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

/** The resident memory of `pid` and every process below it, in bytes (`VmRSS` of each). */
export async function treeRssBytes(pid: number): Promise<number> {
  let total = 0;
  for (const id of await processTree(pid)) total += await rssBytes(id);
  return total;
}

/** CPU time (user and system, in clock ticks) used by `pid` and every process below it. */
export async function treeCpuTicks(pid: number): Promise<number> {
  let total = 0;
  for (const id of await processTree(pid)) total += (await readStat(id))?.ticks ?? 0;
  return total;
}

/**
 * Wait until `pid` and the processes below it have been idle (at most one
 * clock tick of CPU time in any `windowMs`) for `windowMs`, or `timeoutMs`
 * has passed. Returns whether they went idle.
 */
export async function waitForIdle(
  pid: number,
  options: { windowMs?: number; timeoutMs?: number } = {},
): Promise<boolean> {
  const windowMs = options.windowMs ?? 100;
  const deadline = performance.now() + (options.timeoutMs ?? 5_000);
  let before = await treeCpuTicks(pid);
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const now = await treeCpuTicks(pid);
    if (now - before <= 1) return true;
    before = now;
  }
  return false;
}

async function rssBytes(pid: number): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(`/proc/${pid}/status`);
  } catch {
    return 0; // it exited meanwhile
  }
  const kb = text.match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1];
  return kb ? Number(kb) * 1024 : 0;
}

async function readStat(pid: number): Promise<{ ppid: number; ticks: number } | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}
