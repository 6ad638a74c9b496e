import { RoamError } from "../../errors/mod.ts";
import { capabilityError } from "../errors.ts";
import { GroupProcess } from "../worker_process.ts";

/** Options for {@linkcode runStep}. */
export interface StepOptions {
  /** Working directory. */
  cwd?: string;
  /** The whole environment of the step. */
  env?: Record<string, string>;
  /** Most milliseconds without a line of output before the step counts as stalled. */
  stallMs: number;
  /** Each output line (and one line naming the command first). */
  progress: (line: string) => void;
  /** Aborting stops the step. */
  signal?: AbortSignal;
}

/**
 * Run one step of an environment's creation (`python -m venv`, `pip
 * install`, `micromamba create`) in its own process group. A step that
 * prints nothing for `stallMs` is stalled: it is killed and the call fails
 * with `timeout`; a slow step that keeps printing runs as long as it needs.
 */
export async function runStep(
  command: string,
  args: string[],
  options: StepOptions,
): Promise<void> {
  const shown = [command, ...args].join(" ");
  options.progress(`$ ${shown}`);
  const last: string[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stalled = false;
  const process = GroupProcess.spawn({
    command,
    args,
    cwd: options.cwd,
    env: options.env,
    onLine: (_stream, line) => {
      last.push(line);
      if (last.length > 10) last.shift();
      options.progress(line);
      arm();
    },
  });
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      void process.terminate(0);
    }, options.stallMs);
  };
  const abort = () => void process.terminate(0);
  options.signal?.addEventListener("abort", abort);
  arm();
  let status: Deno.CommandStatus;
  try {
    status = await process.status;
    await process.drained;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", abort);
    await process.terminate(0);
  }
  const tail = last.length ? `; its last lines:\n  ${last.join("\n  ")}` : "";
  if (stalled) {
    throw capabilityError(
      "transient",
      `'${shown}' printed nothing for ${duration(options.stallMs)} and was stopped as stalled ` +
        `(raise capabilities.envStallMs for a slow mirror)${tail}`,
      { command: shown, stallMs: options.stallMs, lastLines: last },
      "timeout",
    );
  }
  if (options.signal?.aborted) {
    throw new RoamError("cancelled", `'${shown}' was cancelled`, {
      command: shown,
      category: "transient",
    });
  }
  if (!status.success) {
    throw capabilityError(
      "fatal",
      `'${shown}' failed (exit ${status.code}${status.signal ? `, ${status.signal}` : ""})${tail}`,
      { command: shown, exitCode: status.code, lastLines: last },
    );
  }
}

/**
 * The path of `name` on `searchPath` (default: this process's PATH), or
 * `name` itself when it holds a '/' and is executable; else undefined.
 */
export function which(name: string, searchPath = Deno.env.get("PATH") ?? ""): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : searchPath.split(":").filter(Boolean).map((dir) => `${dir}/${name}`);
  for (const path of candidates) {
    try {
      const stat = Deno.statSync(path);
      if (stat.isFile && ((stat.mode ?? 0o111) & 0o111)) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

function duration(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}
