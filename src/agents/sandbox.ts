import { RoamError } from "../errors/mod.ts";
import { type FromRunner, FromRunnerSchema, type ToRunner, type ToWorker } from "./protocol.ts";
import { RUNNER_ARG, selfCommand } from "./runner/command.ts";

/** One agent's worker, wherever it runs: send it messages, hear them, stop it. */
export interface WorkerLink {
  /** Send a message to the worker. */
  post(message: ToWorker): void;
  /** Stop the worker; `onExit` fires once (during this call, unless the worker was gone already). */
  kill(): void;
}

/** What a link reports to its owner. */
export interface LinkHandlers {
  /** A message from the worker (not yet validated). */
  onMessage(message: unknown): void;
  /** The worker is gone, and why. Fires exactly once. */
  onExit(reason: string): void;
}

/** Where agent workers run: a runner process, or the host process itself. */
export interface Runner {
  /** The heap budget of each agent here, in MB (0: none). */
  readonly heapMb: number;
  /** How many agents run here. */
  readonly size: number;
  /** Whether it can no longer run agents. */
  readonly dead: boolean;
  /** Start a worker for agent `id` with exactly `permissions`. */
  spawn(id: string, permissions: Deno.PermissionOptionsObject, handlers: LinkHandlers): WorkerLink;
  /** Resolves when workers can be spawned. */
  ready(): Promise<void>;
  /** Stop every worker here. */
  close(): Promise<void>;
  /** Stop at once (tests use it to stand for a crash). */
  kill(): void;
}

/**
 * Workers in the host process itself: the fastest to start and to talk to,
 * but with no heap budget (Deno gives workers none, denoland/deno#7419), so
 * an agent that eats memory can take the host with it. Used for plugins that
 * ask for `isolation: "inline"`.
 */
export class InlineRunner implements Runner {
  readonly heapMb = 0;
  readonly #workers = new Map<string, { worker: Worker; handlers: LinkHandlers }>();

  get size(): number {
    return this.#workers.size;
  }

  get dead(): boolean {
    return false;
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  spawn(id: string, permissions: Deno.PermissionOptionsObject, handlers: LinkHandlers): WorkerLink {
    const worker = new Worker(new URL("./worker/runtime.ts", import.meta.url), {
      type: "module",
      name: `agent-${id}`,
      deno: { permissions },
    });
    this.#workers.set(id, { worker, handlers });
    worker.onmessage = (event) => handlers.onMessage(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#stop(id, `uncaught error: ${event.message}`);
    };
    worker.onmessageerror = () => this.#stop(id, "the worker sent a message that cannot be read");
    return {
      post: (m) => this.#workers.get(id)?.worker.postMessage(m),
      kill: () => this.#stop(id, "stopped by the host"),
    };
  }

  close(): Promise<void> {
    for (const id of [...this.#workers.keys()]) this.#stop(id, "the host is stopping");
    return Promise.resolve();
  }

  kill(): void {
    for (const id of [...this.#workers.keys()]) this.#stop(id, "killed");
  }

  #stop(id: string, reason: string) {
    const entry = this.#workers.get(id);
    if (!entry) return;
    this.#workers.delete(id);
    entry.worker.terminate();
    entry.handlers.onExit(reason);
  }
}

/** Options for {@linkcode RunnerProcess}. */
export interface RunnerOptions {
  /** V8 heap limit for each agent in this runner, in MB. */
  heapMb: number;
  /** Where the runner's own error output goes. */
  log: (line: string) => void;
}

/**
 * A child process that runs agent workers, started from the host's own
 * executable with a V8 heap limit. An agent that runs out of memory takes
 * down its runner, never the host; every agent of that runner is told.
 */
export class RunnerProcess implements Runner {
  readonly heapMb: number;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #links = new Map<string, LinkHandlers>();
  readonly #ready: Promise<void>;
  readonly #exited: Promise<string>;
  readonly #encoder = new TextEncoder();
  #dead: string | null = null;

  /** Start a runner; wait for {@linkcode RunnerProcess.ready} before spawning. */
  constructor(options: RunnerOptions) {
    this.heapMb = options.heapMb;
    const cmd = selfCommand([RUNNER_ARG], [`--max-old-space-size=${options.heapMb}`]);
    this.#child = new Deno.Command(cmd.command, {
      args: cmd.args,
      // roam's own settings (a ROAM_TOKEN above all) never reach agent code, whatever is granted.
      clearEnv: true,
      env: { ...runnerEnv(), ...cmd.env, NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    let ready!: () => void;
    this.#ready = new Promise((resolve) => ready = resolve);
    const lines = this.#readLines(this.#child.stdout, (message) => {
      if (message.t === "ready") ready();
      else if (message.t === "msg") this.#links.get(message.a)?.onMessage(message.m);
      else this.#exitLink(message.a, message.reason);
    });
    const errors = this.#readErrors(this.#child.stderr, options.log);
    this.#exited = this.#child.status.then(async (status) => {
      await Promise.allSettled([lines, errors]);
      const reason = status.signal === "SIGKILL" || status.code === 133 || status.code === 134 ||
          status.signal === "SIGTRAP"
        ? `the agent runner process died (${
          status.signal ?? `exit ${status.code}`
        }; out of memory past the ${this.heapMb} MB budget, or killed)`
        : `the agent runner process exited (${status.signal ?? `exit ${status.code}`})`;
      this.#dead = reason;
      for (const id of [...this.#links.keys()]) this.#exitLink(id, reason);
      return reason;
    });
  }

  /** Resolves when the runner can spawn workers; rejects if it died first. */
  async ready(): Promise<void> {
    await Promise.race([
      this.#ready,
      this.#exited.then((reason) => {
        throw new RoamError("unavailable", `cannot start an agent runner: ${reason}`, {});
      }),
    ]);
  }

  /** How many agents run here. */
  get size(): number {
    return this.#links.size;
  }

  /** Whether the process has exited. */
  get dead(): boolean {
    return this.#dead !== null;
  }

  /** Start a worker for agent `id` with exactly `permissions`. */
  spawn(id: string, permissions: Deno.PermissionOptionsObject, handlers: LinkHandlers): WorkerLink {
    if (this.#dead) {
      queueMicrotask(() => handlers.onExit(this.#dead!));
      return { post() {}, kill() {} };
    }
    this.#links.set(id, handlers);
    this.#send({ t: "spawn", a: id, permissions });
    return {
      post: (m) => this.#links.has(id) && this.#send({ t: "post", a: id, m }),
      kill: () => {
        if (!this.#links.has(id)) return;
        this.#send({ t: "kill", a: id });
        // Gone for the host now, as in InlineRunner: the runner counts as free at once,
        // so that a runner whose last agent was stopped is released, not left running.
        this.#exitLink(id, "stopped by the host");
      },
    };
  }

  /** Stop the process and every worker in it; resolves when it has exited. */
  async close(): Promise<void> {
    if (!this.#dead) {
      try {
        await this.#writer.close();
      } catch { /* already closed */ }
      const timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 2000);
      await this.#exited;
      clearTimeout(timer);
    } else {
      await this.#exited;
    }
  }

  /** Kill the process at once (tests use this to simulate a crash). */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
  }

  #exitLink(id: string, reason: string) {
    const link = this.#links.get(id);
    if (!link) return;
    this.#links.delete(id);
    link.onExit(reason);
  }

  #send(command: ToRunner) {
    if (this.#dead) return;
    this.#writer.write(this.#encoder.encode(JSON.stringify(command) + "\n")).catch(() => {});
  }

  async #readLines(stream: ReadableStream<Uint8Array>, onMessage: (m: FromRunner) => void) {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      if (rest.length > 64 * 1024 * 1024) throw new Error("a runner line over 64 MiB");
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        let parsed;
        try {
          parsed = FromRunnerSchema.safeParse(JSON.parse(line));
        } catch {
          continue;
        }
        if (parsed.success) onMessage(parsed.data);
      }
    }
  }

  async #readErrors(stream: ReadableStream<Uint8Array>, log: (line: string) => void) {
    let rest = "";
    let lines = 0;
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!.slice(-4096);
      // Bounded: a runner that prints without end is not allowed to flood the log.
      for (const line of parts) {
        if (line.trim() && lines++ < 200) log(`roam: agent runner: ${line.slice(0, 500)}`);
      }
    }
  }
}

/** The host's environment without roam's own variables (tokens, data dir, host URL). */
function runnerEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !name.startsWith("ROAM_")),
  );
}

/** Options for {@linkcode RunnerPool}. */
export interface RunnerPoolOptions {
  /** Where runners' error output goes. */
  log: (line: string) => void;
  /** Keep one started runner of the default heap size ready, so a new agent only waits for its worker. */
  warm?: boolean;
  /** The heap budget runners are kept warm for. */
  defaultHeapMb: number;
}

/**
 * The runner processes of one host. By default every agent gets a runner of
 * its own (so one agent's memory can never take down another); agents of a
 * plugin with `isolation: "shared"` share one runner per plugin.
 */
export class RunnerPool {
  readonly #options: RunnerPoolOptions;
  readonly #shared = new Map<string, RunnerProcess>();
  readonly #all = new Set<RunnerProcess>();
  readonly #inline = new InlineRunner();
  #spare: RunnerProcess | undefined;
  #closed = false;

  /** Make a pool; nothing starts until the first agent (or `warmUp`). */
  constructor(options: RunnerPoolOptions) {
    this.#options = options;
  }

  /** Start the spare runner now. */
  warmUp(): void {
    if (this.#options.warm && !this.#spare && !this.#closed) {
      this.#spare = this.#start(this.#options.defaultHeapMb);
    }
  }

  /** A runner for an agent: its own (taking the warm spare when it fits), or its plugin's shared one. */
  async acquire(opts: { heapMb: number; sharedKey?: string; inline?: boolean }): Promise<Runner> {
    if (this.#closed) throw new RoamError("unavailable", "the host is shutting down", {});
    if (opts.inline) return this.#inline;
    if (opts.sharedKey) {
      const key = `${opts.sharedKey}@${opts.heapMb}`;
      let runner = this.#shared.get(key);
      if (!runner || runner.dead) this.#shared.set(key, runner = this.#start(opts.heapMb));
      await runner.ready();
      return runner;
    }
    let runner: RunnerProcess;
    if (this.#spare && !this.#spare.dead && this.#spare.heapMb === opts.heapMb) {
      runner = this.#spare;
      this.#spare = undefined;
      // Start the next spare a little later, so its start-up does not compete
      // with this agent's on a small machine.
      const timer = setTimeout(() => this.warmUp(), 250);
      Deno.unrefTimer(timer as unknown as number);
    } else {
      runner = this.#start(opts.heapMb);
      // The first agent pays for a cold start; later ones find a runner waiting.
      if (opts.heapMb === this.#options.defaultHeapMb) this.warmUp();
    }
    await runner.ready();
    return runner;
  }

  /** Give back a runner an agent no longer uses; a private runner with no agents left is stopped. */
  async release(runner: Runner): Promise<void> {
    if (!(runner instanceof RunnerProcess)) return;
    if (runner.size > 0 || [...this.#shared.values()].includes(runner)) return;
    this.#all.delete(runner);
    await runner.close();
  }

  /** Stop every runner. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#spare = undefined;
    const runners = [...this.#all];
    this.#all.clear();
    this.#shared.clear();
    await Promise.all([...runners.map((r) => r.close()), this.#inline.close()]);
  }

  #start(heapMb: number): RunnerProcess {
    const runner = new RunnerProcess({ heapMb, log: this.#options.log });
    this.#all.add(runner);
    return runner;
  }
}
