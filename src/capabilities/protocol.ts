import { z } from "zod";
import { RoamError } from "../errors/mod.ts";
import type { ErrorCategory } from "./contract.ts";
import { capabilityError, ERROR_CATEGORIES } from "./errors.ts";

/** The worker protocol version this host speaks. */
export const PROTOCOL_VERSION = 1;

/** Largest reply (or stream line) the host reads from a worker: 64 MiB. */
export const MAX_REPLY_BYTES = 64 * 1024 * 1024;

/** The first line a worker prints on stdout: the loopback port it listens on. */
export const PORT_LINE = /^ROAM_WORKER_PORT=(\d{1,5})$/;

/** `GET /info`. */
export const WorkerInfoSchema = z.object({
  protocol: z.number().int(),
  name: z.string(),
  version: z.string(),
  methods: z.array(z.string()).max(1024),
  runtime: z.string().optional(),
});

/** What a worker says went wrong. */
export const WorkerErrorSchema = z.object({
  category: z.enum(ERROR_CATEGORIES as [ErrorCategory, ...ErrorCategory[]]),
  message: z.string(),
  type: z.string().optional(),
  traceback: z.string().optional(),
  cancelled: z.boolean().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

/** One line of `POST /execute/stream`. */
export const StreamLineSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("progress"),
    fraction: z.number().optional(),
    message: z.string().optional(),
    partial: z.unknown().optional(),
  }),
  z.object({ type: z.literal("result"), result: z.unknown() }),
  z.object({ type: z.literal("error"), error: WorkerErrorSchema }),
]);

/** A worker's error as a {@linkcode RoamError} with its category. */
export function errorFromWorker(
  error: z.output<typeof WorkerErrorSchema>,
  context: Record<string, unknown>,
): RoamError {
  const data = { ...context, ...error.data, type: error.type, traceback: error.traceback };
  if (error.cancelled) {
    return new RoamError("cancelled", `the call was cancelled: ${error.message}`, {
      ...data,
      category: "transient",
      cancelled: true,
    });
  }
  const label = `${context.capability}.${context.method ?? "call"}`;
  return capabilityError(
    error.category,
    `${label} failed (${error.category}): ${error.message}`,
    data,
  );
}

/** An HTTP client for one worker: its base URL, its token, a keep-alive connection. */
export class WorkerClient {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #client = Deno.createHttpClient({ poolMaxIdlePerHost: 4 });

  /** A client for the worker at `127.0.0.1:port` with `token`. */
  constructor(port: number, token: string) {
    this.#base = `http://127.0.0.1:${port}`;
    this.#headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  }

  /** Send a request and return the response (the body unread). */
  request(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Response> {
    return fetch(this.#base + path, {
      method,
      headers: this.#headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      client: this.#client,
    });
  }

  /** A JSON request whose reply is parsed with `schema`; a worker error becomes a RoamError. */
  async json<T extends z.ZodType>(
    method: "GET" | "POST",
    path: string,
    schema: T,
    options: { body?: unknown; timeoutMs: number; context: Record<string, unknown> },
  ): Promise<z.output<T>> {
    const response = await this.request(
      method,
      path,
      options.body,
      AbortSignal.timeout(options.timeoutMs),
    );
    const value = await response.json().catch(() => undefined);
    if (!response.ok) {
      const error = WorkerErrorSchema.safeParse(value?.error);
      if (error.success) throw errorFromWorker(error.data, options.context);
      throw capabilityError("fatal", `the worker answered ${path} with HTTP ${response.status}`, {
        ...options.context,
        status: response.status,
      });
    }
    return parseReply(schema, value, path, options.context);
  }

  /** Close the connection pool. */
  close(): void {
    this.#client.close();
  }
}

/** Validate a worker's reply; a wrong one is a fatal error naming the endpoint. */
export function parseReply<T extends z.ZodType>(
  schema: T,
  value: unknown,
  path: string,
  context: Record<string, unknown>,
): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw capabilityError(
    "fatal",
    `the worker's answer to ${path} does not follow the protocol: ${
      parsed.error.issues[0].message
    }`,
    context,
  );
}
