import { RoamError } from "../errors/mod.ts";

/**
 * The watchdog every roam subprocess starts under. `setsid` makes the
 * process the leader of its own session and process group; this shell then
 * forks a watcher that reads its stdin (a pipe whose other end only the host
 * holds) and `exec`s the real command with stdin from /dev/null. When the
 * host closes the pipe or dies, even by SIGKILL, the watcher reads EOF and
 * kills the whole group: TERM, then KILL two seconds later. The watcher
 * ignores TERM so that it outlives its own first signal. (An asynchronous
 * list's stdin is /dev/null in sh, hence the pipe goes through fd 3; the
 * watcher's own output goes nowhere, so it never holds the host's pipes.)
 */
const WATCHDOG = `exec 3<&0
( trap '' TERM INT HUP; while read -r _; do :; done; kill -TERM 0 2>/dev/null; sleep 2; ` +
  `kill -KILL 0 2>/dev/null ) <&3 >/dev/null 2>&1 &
exec "$@" </dev/null 3<&-`;

/** Longest line kept from a subprocess's output; longer ones are cut. */
const MAX_LINE = 16 * 1024;

/** Options for {@linkcode GroupProcess.spawn}. */
export interface GroupProcessOptions {
  /** The program. */
  command: string;
  /** Its arguments. */
  args: string[];
  /** Working directory. */
  cwd?: string;
  /** The whole environment of the process; left out, it inherits the host's. */
  env?: Record<string, string>;
  /** Each line the process writes, in order per stream. */
  onLine?: (stream: "stdout" | "stderr", line: string) => void;
}

/**
 * A subprocess that leads its own process group and dies with the host:
 * {@linkcode GroupProcess.terminate} signals the whole group (grandchildren
 * included), and a watchdog kills the group when the host goes away.
 *
 * @example
 * const p = GroupProcess.spawn({ command: "python3", args: ["-u", "worker.py"] });
 * await p.terminate(2_000);
 */
export class GroupProcess {
  /** Process id, which is also the process group id. */
  readonly pid: number;
  /** Resolves with the exit status of the process itself (not its group). */
  readonly status: Promise<Deno.CommandStatus>;
  /** Resolves when both output streams have ended (every writer closed them). */
  readonly drained: Promise<void>;
  #child: Deno.ChildProcess;
  #exit: Deno.CommandStatus | undefined;
  #released = false;

  private constructor(child: Deno.ChildProcess, onLine: GroupProcessOptions["onLine"]) {
    this.#child = child;
    this.pid = child.pid;
    this.status = child.status.then((status) => {
      this.#exit = status;
      return status;
    });
    const emit = onLine ?? (() => {});
    this.drained = Promise.all([
      readLines(child.stdout, (line) => emit("stdout", line)),
      readLines(child.stderr, (line) => emit("stderr", line)),
    ]).then(() => {});
  }

  /** Start `command` in a new process group under the watchdog. */
  static spawn(options: GroupProcessOptions): GroupProcess {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(setsidPath(), {
        args: ["/bin/sh", "-c", WATCHDOG, "roam-watchdog", options.command, ...options.args],
        cwd: options.cwd,
        env: options.env,
        clearEnv: options.env !== undefined,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      throw new RoamError(
        "unavailable",
        `cannot start ${options.command}: ${
          (error as Error).message
        } (roam needs 'setsid' from util-linux and /bin/sh)`,
        { command: options.command },
      );
    }
    return new GroupProcess(child, options.onLine);
  }

  /** The exit status once the process has exited, else undefined. */
  get exit(): Deno.CommandStatus | undefined {
    return this.#exit;
  }

  /** Send `signal` to every process of the group; a group that is gone is not an error. */
  signal(signal: Deno.Signal): void {
    try {
      Deno.kill(-this.pid, signal);
    } catch {
      // No such group: nothing is left in it, or the process has not yet run
      // setsid (a stop right after a spawn). In the second case signal the
      // process itself; it is still our unreaped child, so the pid is ours.
      if (this.#exit) return;
      try {
        Deno.kill(this.pid, signal);
      } catch {
        // gone
      }
    }
  }

  /**
   * Wait up to `graceMs` for the process to exit by itself, then SIGTERM the
   * group, wait `graceMs` again, then SIGKILL the group (always, so the
   * watchdog and any grandchild left behind go too). Idempotent.
   */
  async terminate(graceMs: number, alreadyWaitedMs = 0): Promise<Deno.CommandStatus> {
    if (!this.#exit && graceMs - alreadyWaitedMs > 0) {
      await exitWithin(this.status, graceMs - alreadyWaitedMs);
    }
    if (!this.#exit) {
      this.signal("SIGTERM");
      await exitWithin(this.status, graceMs);
    }
    this.signal("SIGKILL");
    const status = await this.status;
    this.release();
    // Members that are not our children (the watchdog, grandchildren) die
    // asynchronously: wait, briefly, until the group is empty.
    const end = Date.now() + 2_000;
    while (liveMembers(this.pid) > 0 && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return status;
  }

  /** Close the watchdog's pipe (the watchdog then kills what is left of the group). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#child.stdin.close().catch(() => {});
  }
}

let setsid: string | undefined;

/** Where `setsid` is: a fixed path, so a worker whose environment lacks PATH still starts. */
function setsidPath(): string {
  if (setsid) return setsid;
  for (const path of ["/usr/bin/setsid", "/bin/setsid", "/usr/local/bin/setsid"]) {
    try {
      if (Deno.statSync(path).isFile) return setsid = path;
    } catch {
      // not here
    }
  }
  return setsid = "setsid";
}

/** How many processes of group `pgid` still run (zombies do not count). */
function liveMembers(pgid: number): number {
  let count = 0;
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (Number(fields[2]) === pgid && fields[0] !== "Z") count++;
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // no /proc: nothing to wait for
  }
  return count;
}

/** Resolve when `status` settles or `ms` passes, whichever is first. */
export async function exitWithin(status: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([status.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  const decoder = new TextDecoder();
  let pending = "";
  const flush = (text: string) => {
    // A carriage return redraws a progress bar: keep only its last frame.
    const frame = text.slice(text.lastIndexOf("\r") + 1);
    if (frame.trim()) onLine(frame.length > MAX_LINE ? `${frame.slice(0, MAX_LINE)}...` : frame);
  };
  try {
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = pending.indexOf("\n")) >= 0) {
        flush(pending.slice(0, end));
        pending = pending.slice(end + 1);
      }
      if (pending.length > MAX_LINE) {
        flush(pending);
        pending = "";
      }
    }
  } catch {
    // The stream broke with the process; what was read is kept.
  }
  flush(pending + decoder.decode());
}
