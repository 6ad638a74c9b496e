/**
 * Capabilities for scripts: `capability(client, name).call(method, args)`
 * over a connected client (see the root `mod.ts`).
 *
 * @module
 */
import type { ResultOf } from "../api/mod.ts";
import type { RoamClient } from "../client/mod.ts";

/** Options of one call or submission from a script. */
export interface ScriptCallOptions {
  /** The capability's config (one instance serves each distinct config). */
  config?: unknown;
  /** Higher runs first (0 to 100, default 5). */
  priority?: number;
  /** Time limit of the call, ms; also how long the client waits (plus a minute for the queue). */
  timeoutMs?: number;
  /** Run it on this host of the mesh (a name, an id or a URL). */
  to?: string;
}

/** A capability as a script calls it. */
export interface CapabilityHandle {
  /** Its name. */
  readonly name: string;
  /** Call a method through the job queue and return its result; throws the job's error. */
  call(method: string, args?: unknown, options?: ScriptCallOptions): Promise<unknown>;
  /** Queue a call and return the job at once (follow it with `client.job.wait`). */
  submit(
    method: string,
    args?: unknown,
    options?: ScriptCallOptions,
  ): Promise<ResultOf<"job.submit">>;
}

/**
 * A capability of the host `client` is connected to.
 *
 * @example
 * import { capability, connect } from "./mod.ts";
 * const mesh = await connect();
 * const echo = capability(mesh, "echo-py");
 * console.log(await echo.call("echo", { text: "hi" }));
 */
export function capability(client: RoamClient, name: string): CapabilityHandle {
  const params = (method: string, args: unknown, o: ScriptCallOptions) => ({
    capability: name,
    method,
    args,
    config: o.config,
    priority: o.priority,
    timeoutMs: o.timeoutMs,
    to: o.to,
  });
  return {
    name,
    async call(method, args, options = {}) {
      const reply = await client.call("capability.call", params(method, args, options), {
        timeoutMs: options.timeoutMs === undefined ? 3_600_000 : options.timeoutMs + 60_000,
      });
      return reply.result;
    },
    submit(method, args, options = {}) {
      return client.call("job.submit", params(method, args, options));
    },
  };
}
