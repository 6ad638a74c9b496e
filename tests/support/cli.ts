/** What a finished CLI run printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const FLAGS = ["run", "--allow-all", "--unstable-net", "--unstable-worker-options"];

// Tests change HOME to hide the local secret; Deno's module cache must stay put.
const DENO_DIR = Deno.env.get("DENO_DIR") ??
  `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/deno`;
const BASE_ENV = { NO_COLOR: "1", DENO_DIR };

/** Run `roam ARGS` to completion, with `env` added to a clean environment. */
export async function roam(
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, MAIN, ...args],
    env: { ...BASE_ENV, ...env },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** A `roam` process that runs until stopped, with its output read line by line. */
export class CliProcess {
  readonly child: Deno.ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  readonly #done: Promise<void>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [...FLAGS, MAIN, ...args],
      env: { ...BASE_ENV, ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#done = Promise.all([this.#read(this.child.stdout), this.#read(this.child.stderr)]).then(
      () => {},
    );
  }

  /** Every line printed so far, stdout and stderr interleaved. */
  get output(): string {
    return this.#lines.join("\n");
  }

  /** Wait for a line matching `pattern` (already printed, or yet to come). */
  waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    for (const line of this.#lines) {
      const m = line.match(pattern);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no line matching ${pattern} in:\n${this.output}`)),
        timeoutMs,
      );
      this.#waiters.push({
        pattern,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  /** Send a signal and wait for the exit status and all output. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
    const status = await this.child.status;
    await this.#done;
    return status;
  }

  async #read(stream: ReadableStream<Uint8Array>) {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      parts.forEach((line) => this.#line(line));
    }
    if (rest) this.#line(rest);
  }

  #line(line: string) {
    this.#lines.push(line);
    for (const w of [...this.#waiters]) {
      const m = line.match(w.pattern);
      if (m) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }
}
