/**
 * What `deno task bench` measures. A {@linkcode Measurement} times one kind of
 * call; a {@linkcode BenchDefinition} holds one measurement against a floor
 * (another measurement taken in the same run) with a goal for their ratio.
 *
 * To add a bench: add the measurement(s) it needs to {@linkcode MEASUREMENTS}
 * (a floor may be shared by many benches) and one line to
 * {@linkcode BENCHES}. Measurements that no selected bench names are not set
 * up.
 *
 * @module
 */

/** One call to time; it throws when the answer is wrong. */
export type Call = () => Promise<void>;

/** What a measurement's setup may use; everything it starts is stopped when the run ends. */
export interface BenchContext {
  /** The repository root. */
  readonly root: string;
  /**
   * Start a server script from `scripts/bench/` in its own `deno run`
   * subprocess (with the project's permission and unstable flags) and return
   * the URL it printed. It is stopped when the run ends.
   */
  startServer(script: string, args?: string[]): Promise<string>;
  /** A fresh temporary directory, removed when the run ends. */
  makeTempDir(prefix: string): Promise<string>;
  /** Run `cleanup` when the run ends, after everything set up later has been cleaned. */
  defer(cleanup: () => void | Promise<void>): void;
}

/** One kind of timed call. */
export interface Measurement {
  /** Stable name, the key in `.bench/last.json`. */
  name: string;
  /** What one call is, for the table. */
  summary: string;
  /** Start what the calls need and return the call. */
  setup(context: BenchContext): Promise<Call>;
}

/** A measurement held to a floor measured in the same run. */
export interface BenchDefinition {
  /** Stable name, the key in `.bench/last.json`. */
  name: string;
  /** The measurement judged. */
  subject: string;
  /** The floor's measurement: the best that can be done for this kind of call. */
  floor: string;
  /** Highest acceptable ratio of the subject's median to the floor's median. */
  goal: number;
}

/**
 * A call that POSTs one JSON-RPC request without a token over its own
 * keep-alive HTTP client and checks that the result has `ok: true`.
 */
export function jsonRpcPost(context: BenchContext, url: string, method: string): Call {
  const client = Deno.createHttpClient({});
  context.defer(() => client.close());
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: {} });
  const headers = { "content-type": "application/json" };
  return async () => {
    const response = await fetch(url, { method: "POST", headers, body, client });
    const reply = await response.json();
    if (response.status !== 200 || reply?.result?.ok !== true) {
      throw new Error(
        `${method} at ${url} answered ${response.status}: ${JSON.stringify(reply).slice(0, 300)}`,
      );
    }
  };
}

/** Every measurement a bench may name. */
export const MEASUREMENTS: readonly Measurement[] = [
  {
    name: "deno.serve/http",
    summary: "bare Deno.serve: POST a JSON body, small JSON reply",
    setup: async (context) =>
      jsonRpcPost(context, `${await context.startServer("bare_server.ts")}/rpc`, "host.health"),
  },
  {
    name: "host.health/http",
    summary: "roam host: JSON-RPC host.health over HTTP, no token",
    setup: async (context) => {
      const dataDir = await context.makeTempDir("roam-bench-host-");
      const url = await context.startServer("host_server.ts", [
        "--data-dir",
        dataDir,
        "--remove-data-dir",
      ]);
      return jsonRpcPost(context, `${url}/rpc`, "host.health");
    },
  },
];

/** The benches `deno task bench` runs. */
export const BENCHES: readonly BenchDefinition[] = [
  {
    name: "host.health over HTTP",
    subject: "host.health/http",
    floor: "deno.serve/http",
    goal: 1.5,
  },
];
