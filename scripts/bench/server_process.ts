/**
 * A server subprocess for the bench: a Deno script that prints its URL as
 * the first line of stdout and runs until its stdin closes. Running servers
 * out of the bench's process keeps client and server off one event loop.
 *
 * @module
 */

/** A started server subprocess. */
export interface ServerProcess {
  /** The URL the server printed. */
  readonly url: string;
  /** The child's process id. */
  readonly pid: number;
  /**
   * Stop it: close its stdin (its signal to shut down), then SIGTERM and
   * SIGKILL if it lingers. Waits for the process to end. Idempotent.
   */
  stop(): Promise<void>;
}

/** Options for {@linkcode startServer}. */
export interface ServerOptions {
  /** The script to run, a path or file URL. */
  script: string;
  /** Arguments after the script. */
  args?: string[];
  /** Flags for `deno run`. */
  denoFlags?: string[];
  /** Working directory. */
  cwd?: string;
  /** Longest wait for the URL line. Default 30 s. */
  startTimeoutMs?: number;
}

const STDERR_KEEP = 4096;

/**
 * Start `deno run FLAGS SCRIPT ARGS` and wait for the URL it prints. If the
 * child exits or stays silent first, it is killed and the error says why,
 * with the end of its stderr.
 */
export async function startServer(options: ServerOptions): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.denoFlags ?? []), options.script, ...(options.args ?? [])],
    cwd: options.cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();

  let stderrTail = "";
  const stderrDone = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderrTail = (stderrTail + text).slice(-STDERR_KEEP);
    }
  })().catch(() => {});

  const { promise: firstLine, resolve: gotLine } = Promise.withResolvers<string | null>();
  const stdoutDone = (async () => {
    let buffered = "";
    let announced = false;
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      if (announced) continue; // keep draining so the child never blocks on a full pipe
      buffered += text;
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        announced = true;
        gotLine(buffered.slice(0, newline).trim());
      }
    }
    gotLine(null);
  })().catch(() => gotLine(null));

  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      await stdin.close().catch(() => {});
      if (!(await exitsWithin(child, 5_000))) {
        signal(child, "SIGTERM");
        if (!(await exitsWithin(child, 2_000))) signal(child, "SIGKILL");
      }
      await child.status;
      await Promise.all([stdoutDone, stderrDone]);
    })();

  const timeoutMs = options.startTimeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const line = await Promise.race([firstLine, timedOut]);
  clearTimeout(timer);
  if (typeof line === "string" && /^https?:\/\//.test(line)) {
    return { url: line.replace(/\/+$/, ""), pid: child.pid, stop };
  }
  await stop();
  const why = line === "timeout"
    ? `printed no URL within ${timeoutMs} ms`
    : line === null
    ? "exited before printing its URL"
    : `printed ${JSON.stringify(line.slice(0, 200))} instead of its URL`;
  const tail = stderrTail.trim();
  throw new Error(`${options.script} ${why}${tail ? `; its stderr ended with:\n${tail}` : ""}`);
}

function signal(child: Deno.ChildProcess, name: Deno.Signal) {
  try {
    child.kill(name);
  } catch {
    // already gone
  }
}

async function exitsWithin(child: Deno.ChildProcess, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = await Promise.race([
    child.status.then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms)),
  ]);
  clearTimeout(timer);
  return done;
}
