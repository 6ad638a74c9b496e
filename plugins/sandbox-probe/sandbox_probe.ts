/**
 * `sandbox-probe`: shows what an agent may actually do on a host. It asks
 * for everything a plugin may ask for (every path, the loopback host, a few
 * environment variables), so whatever the operator grants is exactly what it
 * gets; `run`, `ffi` and `sys` cannot be asked for and are never given.
 *
 * `probe` tries each capability and answers `{allowed, error?}` for each;
 * `error` starts with the error's name (`NotCapable` for a permission
 * denial).
 *
 * ```sh
 * roam plugin add plugins/sandbox-probe
 * roam agent create sandbox-probe
 * roam agent send ID probe '{"read":"/etc/hostname","net":"127.0.0.1:8080"}'
 * roam plugin grant sandbox-probe --read /srv/shared/notes.txt
 * ```
 *
 * @module
 */
import { Agent, type Message } from "@roam/agent";

/** Arguments of `probe`: what to try. A capability without a target uses a harmless default. */
export interface ProbeArgs {
  /** A file to read. Default `/etc/hostname`. */
  read?: string;
  /** A file to write (it is removed again). Default a file in `/tmp`. */
  write?: string;
  /** `host:port` to connect to. Default `127.0.0.1:9`. */
  net?: string;
  /** An environment variable to read. Default `HOME`. */
  env?: string;
  /** A module URL to load code from (`http:`, `file:`). Default a file the probe writes into its own scratch dir. */
  module?: string;
}

/** What one attempt came to. */
export interface Outcome {
  /** Whether the operation went through. */
  allowed: boolean;
  /** Why not: `Name: message` of what was thrown (`NotCapable: ...` when permission was denied). */
  error?: string;
}

/** The capabilities `probe` tries, each one operation. */
export const CAPABILITIES = [
  "read",
  "write",
  "net",
  "run",
  "env",
  "ffi",
  "sys",
  "eval",
  "function",
  "asyncFunction",
  "stringTimer",
  "worker",
  "capturedFunction",
  "capturedEval",
  "import",
] as const;

/** One of {@linkcode CAPABILITIES}. */
export type Capability = typeof CAPABILITIES[number];

/** The reply of `probe`. */
export type Report = Record<Capability, Outcome>;

type Code = (...args: string[]) => (...args: unknown[]) => unknown;

// Taken while the bundle itself is evaluated, before the runtime seals code
// loading: this is what an agent that plans ahead would keep. The runtime
// must not hand out working copies at this point either.
const captured = {
  Function: globalThis.Function as unknown as Code,
  eval: globalThis.eval as (code: string) => unknown,
};

// Spelled in parts: a bundle that contains the dynamic-import keyword is
// refused at create, and this probe wants to get as far as running.
const IMPORT = ["imp", "ort"].join("");

/** Tries every capability and reports which the host allowed. */
export default class SandboxProbe extends Agent<{ probes: number }> {
  override initialState(): { probes: number } {
    return { probes: 0 };
  }

  override async handleMessage(msg: Message): Promise<unknown> {
    if (msg.kind !== "probe") return super.handleMessage(msg);
    this.state.probes++;
    return await this.probe((msg.args ?? {}) as ProbeArgs);
  }

  /** Try each capability once. */
  async probe(args: ProbeArgs): Promise<Report> {
    const [hostname, port] = (args.net ?? "127.0.0.1:9").split(":");
    const writeTo = args.write ?? `/tmp/roam-sandbox-probe-${this.ctx.id}`;
    const moduleFile = `${this.ctx.storage.scratchDir}/built.mjs`;
    const report: Partial<Report> = {};
    const attempts: [Capability, () => unknown][] = [
      ["read", () => Deno.readTextFile(args.read ?? "/etc/hostname")],
      ["write", async () => {
        await Deno.writeTextFile(writeTo, "written by sandbox-probe\n");
        if (!args.write) await Deno.remove(writeTo);
      }],
      ["net", async () => {
        const conn = await Deno.connect({ hostname, port: Number(port) });
        conn.close();
      }],
      ["run", () => new Deno.Command("true").output()],
      ["env", () => Deno.env.get(args.env ?? "HOME")],
      ["ffi", () => Deno.dlopen("libc.so.6", {}).close()],
      ["sys", () => [Deno.hostname(), Deno.osRelease()]],
      ["eval", () => globalThis.eval("1 + 1")],
      ["function", () => new Function("return 1")()],
      ["asyncFunction", () => {
        const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
        return new AsyncFunction("return 1")();
      }],
      ["stringTimer", () => stringTimer()],
      ["worker", () => {
        const W = globalThis.Worker;
        const worker = new W("data:text/javascript,close()", { type: "module" });
        worker.terminate();
      }],
      ["capturedFunction", () => captured.Function("return 1")()],
      ["capturedEval", () => captured.eval("1 + 1")],
      ["import", async () => {
        // By default, code written at run time into the agent's own (writable) scratch
        // dir; loaded through every way of turning a string into code.
        let url = args.module;
        if (!url) {
          await Deno.writeTextFile(moduleFile, "export default 42;\n");
          url = `file://${moduleFile}`;
        }
        const routes = [
          () => captured.Function("u", `return ${IMPORT}(u)`)(url),
          () => captured.eval(`${IMPORT}(${JSON.stringify(url)})`),
          () => new Function("u", `return ${IMPORT}(u)`)(url),
          () => globalThis.eval(`${IMPORT}(${JSON.stringify(url)})`),
        ];
        const failures: string[] = [];
        for (const route of routes) {
          try {
            await route();
            return;
          } catch (error) {
            failures.push(describe(error));
          }
        }
        throw new Error(`every route failed: ${failures.join(" | ")}`);
      }],
    ];
    for (const [name, attempt] of attempts) {
      try {
        await attempt();
        report[name] = { allowed: true };
      } catch (error) {
        report[name] = { allowed: false, error: describe(error) };
      }
    }
    return report as Report;
  }
}

/** Schedule code given as a string, and see whether it ran. */
async function stringTimer(): Promise<void> {
  const flag = `__sandboxProbe${Math.random().toString(36).slice(2)}`;
  const schedule = globalThis.setTimeout as unknown as (code: string, ms: number) => number;
  schedule(`globalThis.${flag} = true`, 0);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const ran = (globalThis as Record<string, unknown>)[flag] === true;
  if (!ran) throw new Error("the string was scheduled but never ran");
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 500);
  return String(error).slice(0, 500);
}
