/**
 * roam_worker: the Deno side of roam's capability worker protocol
 * (docs/capabilities.md). A capability author lists methods and calls
 * {@linkcode serve}; the host runs the file with only the permissions its
 * plugin.json grants.
 *
 * @example
 * import { serve } from "roam_worker";
 * serve({ name: "echo-deno", version: "1.0.0", methods: { echo: (args) => args } });
 *
 * @module
 */

/** Error categories: whether a retry can help. */
export type Category = "user_input" | "transient" | "resource" | "fatal";

/** A failure with a category; throw it from a method. */
export class CapabilityError extends Error {
  /** The category the host reports. */
  readonly category: Category;
  /** Facts for the caller. */
  readonly data: Record<string, unknown>;
  /** An error of `category`. */
  constructor(category: Category, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.category = category;
    this.data = data;
  }
}

/** Thrown by {@linkcode Call.checkCancel} once the host cancelled the call. */
export class Cancelled extends Error {}

/** One running call. */
export interface Call {
  /** The call's id. */
  readonly id: string;
  /** Aborted when the host cancels the call. */
  readonly signal: AbortSignal;
  /** Throw {@linkcode Cancelled} when the call was cancelled. */
  checkCancel(): void;
  /** Report progress (0..1), words or a partial result (streamed calls only). */
  progress(update: { fraction?: number; message?: string; partial?: unknown }): void;
}

/** A method: JSON args in, a JSON result out. */
export type Method = (args: unknown, call: Call) => unknown | Promise<unknown>;

/** What {@linkcode serve} serves. */
export interface CapabilityDefinition {
  /** Its name. */
  name: string;
  /** Its version. */
  version: string;
  /** Its methods by name. */
  methods: Record<string, Method>;
  /** A JSON schema of its config. */
  configSchema?: Record<string, unknown>;
  /** Called with the config before any call, and again at reconfigure. */
  initialize?: (config: Record<string, unknown>) => void | Promise<void>;
  /** Called once before the process exits. */
  shutdown?: () => void | Promise<void>;
}

function wireError(error: unknown) {
  if (error instanceof Cancelled) {
    return { category: "transient", message: error.message || "cancelled", cancelled: true };
  }
  if (error instanceof CapabilityError) {
    return {
      category: error.category,
      message: error.message,
      type: "CapabilityError",
      data: error.data,
    };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  const category = e instanceof TypeError || e instanceof SyntaxError || e instanceof RangeError
    ? "user_input"
    : "fatal";
  return { category, message: e.message, type: e.name, traceback: e.stack?.slice(-8000) };
}

/** Serve `capability` on a loopback port until the host asks it to shut down. */
export function serve(capability: CapabilityDefinition): void {
  const token = Deno.env.get("ROAM_WORKER_TOKEN");
  if (!token) {
    throw new Error("ROAM_WORKER_TOKEN is not set; capability workers are started by a roam host");
  }
  const calls = new Map<string, AbortController>();
  // At most ROAM_WORKER_CONCURRENCY methods run at once; the others wait their turn.
  const limit = Math.max(1, Number(Deno.env.get("ROAM_WORKER_CONCURRENCY") ?? "1") || 1);
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    while (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
  };
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  let initialized = false;
  const json = (status: number, body: unknown) => Response.json(body, { status });

  const run = async (body: Record<string, unknown>, emit?: (line: unknown) => void) => {
    const id = String(body.callId ?? "");
    const name = String(body.method ?? "");
    const fn = Object.hasOwn(capability.methods, name) ? capability.methods[name] : undefined;
    if (!fn) {
      throw new CapabilityError(
        "user_input",
        `${capability.name} has no method '${name}'; it has: ${
          Object.keys(capability.methods).join(", ")
        }`,
      );
    }
    const controller = new AbortController();
    calls.set(id, controller);
    const call: Call = {
      id,
      signal: controller.signal,
      checkCancel: () => {
        if (controller.signal.aborted) throw new Cancelled("cancelled by the host");
      },
      progress: (update) => emit?.({ type: "progress", ...update }),
    };
    try {
      await acquire();
      try {
        call.checkCancel();
        return await fn(body.args, call);
      } finally {
        release();
      }
    } finally {
      calls.delete(id);
    }
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      if (request.headers.get("authorization") !== `Bearer ${token}`) {
        return json(401, {
          error: { category: "fatal", message: "wrong or missing worker token" },
        });
      }
      const path = new URL(request.url).pathname;
      if (request.method === "GET") {
        if (path === "/health") return json(200, { status: "ok", pid: Deno.pid, initialized });
        if (path === "/info") {
          return json(200, {
            protocol: 1,
            name: capability.name,
            version: capability.version,
            methods: Object.keys(capability.methods).sort(),
            runtime: `deno ${Deno.version.deno}`,
          });
        }
        if (path === "/config-schema") {
          return json(200, {
            schema: capability.configSchema ?? null,
          });
        }
        return json(404, { error: { category: "user_input", message: `no endpoint ${path}` } });
      }
      let body: Record<string, unknown>;
      try {
        body = await request.json();
      } catch (error) {
        return json(400, { error: wireError(new CapabilityError("user_input", String(error))) });
      }
      switch (path) {
        case "/execute":
          try {
            return json(200, { result: await run(body) });
          } catch (error) {
            return json(error instanceof Cancelled ? 409 : 500, { error: wireError(error) });
          }
        case "/execute/stream": {
          const encoder = new TextEncoder();
          const stream = new ReadableStream<Uint8Array>({
            start: async (controller) => {
              const emit = (line: unknown) =>
                controller.enqueue(encoder.encode(JSON.stringify(line) + "\n"));
              try {
                emit({ type: "result", result: await run(body, emit) });
              } catch (error) {
                emit({ type: "error", error: wireError(error) });
              }
              controller.close();
            },
          });
          return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
        }
        case "/cancel": {
          const call = calls.get(String(body.callId ?? ""));
          call?.abort();
          return json(200, { cancelled: call !== undefined });
        }
        case "/initialize":
        case "/reconfigure":
          try {
            await capability.initialize?.((body.config ?? {}) as Record<string, unknown>);
            initialized = true;
            return json(200, { status: "ok" });
          } catch (error) {
            return json(500, { error: wireError(error) });
          }
        case "/shutdown":
          setTimeout(async () => {
            try {
              await capability.shutdown?.();
            } finally {
              await server.shutdown();
              Deno.exit(0);
            }
          }, 0);
          return json(200, { status: "ok" });
      }
      return json(404, { error: { category: "user_input", message: `no endpoint ${path}` } });
    },
  );
  console.log(`ROAM_WORKER_PORT=${server.addr.port}`);
}
