/**
 * Running real `roam host` processes on a private LAN of network namespaces
 * (tests/support/netns.ts) and calling them from the test process.
 *
 * @module
 */
import { readSecret, TokenSigner } from "../src/security/mod.ts";
import type { Lan } from "./support/netns.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const FLAGS = ["run", "--allow-all", "--unstable-net", "--unstable-worker-options"];

/** The HTTP port every host listens on inside its namespace. */
export const HOST_PORT = 7420;

/** A 0600 secret file with 64 random hex characters, as `roam host` writes one. */
export async function writeSecret(path: string): Promise<string> {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  await Deno.writeTextFile(path, hex + "\n", { mode: 0o600 });
  await Deno.chmod(path, 0o600);
  return path;
}

/** Options for {@linkcode LanHost}. */
export interface LanHostOptions {
  /** `--name`. */
  name: string;
  /** `--secret-file`. */
  secretFile: string;
  /** More `roam host` arguments (`--peer`, `--no-multicast`, ...). */
  args?: string[];
  /**
   * A script to run instead of main.ts, with the same arguments (a host with
   * test-only fault points); set it to undefined before a restart to run `roam host`.
   */
  entry?: string;
}

/** A `roam host --bind auto` process in one namespace of a LAN. */
export class LanHost {
  readonly lan: Lan;
  readonly index: number;
  readonly options: LanHostOptions;
  readonly dataDir: string;
  child?: Deno.ChildProcess;
  readonly #lines: string[] = [];
  #reading?: Promise<void>;
  #client?: Promise<Deno.HttpClient>;
  #token?: string;

  constructor(lan: Lan, index: number, options: LanHostOptions) {
    this.lan = lan;
    this.index = index;
    this.options = options;
    this.dataDir = `${lan.dir}/host-${index}`;
  }

  /** Its LAN URL. */
  get url(): string {
    return `http://${this.lan.address(this.index)}:${HOST_PORT}`;
  }

  /** Everything it printed, over all its runs. */
  get output(): string {
    return this.#lines.join("\n");
  }

  /** Start (or restart) it and wait until it listens. */
  async start(timeoutMs = 15_000): Promise<void> {
    const args = [
      ...FLAGS,
      this.options.entry ?? MAIN,
      "--data-dir",
      this.dataDir,
      "host",
      "--bind",
      "auto",
      "--port",
      String(HOST_PORT),
      "--name",
      this.options.name,
      "--secret-file",
      this.options.secretFile,
      ...(this.options.args ?? []),
    ];
    this.child = this.lan.spawn(this.index, Deno.execPath(), args, { env: { NO_COLOR: "1" } });
    const marker = this.#lines.length;
    this.#reading = Promise.all([this.#read(this.child.stdout), this.#read(this.child.stderr)])
      .then(() => {});
    const deadline = Date.now() + timeoutMs;
    while (!this.#lines.slice(marker).some((l) => l.includes("listening on"))) {
      if (Date.now() > deadline) {
        throw new Error(`${this.options.name} did not start:\n${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Send a signal and wait for it to exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    if (!this.child) return;
    try {
      this.child.kill(signal);
    } catch { /* gone */ }
    await this.child.status;
    await this.#reading;
    this.child = undefined;
  }

  /** Call a method on it (from outside its namespace). */
  async call<T = unknown>(method: string, params: unknown = {}, timeoutMs = 10_000): Promise<T> {
    this.#client ??= this.lan.httpClient(this.index, HOST_PORT);
    this.#token ??= new TokenSigner((await readSecret(this.options.secretFile)).bytes).mint({
      subject: "test",
      ttlMs: 600_000,
    });
    const response = await fetch(`http://127.0.0.1:${HOST_PORT}/rpc`, {
      method: "POST",
      client: await this.#client,
      headers: { "content-type": "application/json", authorization: `Bearer ${this.#token}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = await response.json();
    if (body.error) {
      throw new Error(`${this.options.name} ${method}: ${body.error.message}`);
    }
    return body.result as T;
  }

  /** `mesh.hosts` as {name: state}. */
  async states(): Promise<Record<string, string>> {
    const { hosts } = await this.call<{ hosts: { name: string; state: string }[] }>("mesh.hosts");
    return Object.fromEntries(hosts.map((h) => [h.name, h.state]));
  }

  async #read(stream: ReadableStream<Uint8Array>) {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      this.#lines.push(...parts);
    }
    if (rest) this.#lines.push(rest);
  }
}

/**
 * Poll `check` every 50 ms until it returns true; resolves with the time it
 * took, rejects with `describe()` after `timeoutMs`.
 */
export async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => Promise<string> | string,
): Promise<number> {
  const start = performance.now();
  while (true) {
    let ok = false;
    try {
      ok = await check();
    } catch { /* not answering yet */ }
    if (ok) return performance.now() - start;
    if (performance.now() - start > timeoutMs) {
      throw new Error(`not within ${timeoutMs} ms: ${await describe()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
