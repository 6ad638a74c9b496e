import { z } from "zod";
import { RoamError } from "../errors/mod.ts";
import { deadlines } from "./deadline.ts";
import { type InternalErrorSink, invalidParams, toErrorObject } from "./errors.ts";
import type { CallContext, MethodImpl, Session } from "./method.ts";
import { type Id, IdSchema, type Request, RequestSchema, type Response } from "./protocol.ts";

/** Options for {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  /** The methods served. Names must be unique. */
  methods: readonly MethodImpl[];
  /** Most calls in one batch; a larger batch is one -32600 error. Default 100. */
  maxBatch?: number;
  /** Time limit of a call whose method sets none. Default 30 000 ms. */
  defaultTimeoutMs?: number;
  /** Where failures that are bugs are reported. */
  onInternalError?: InternalErrorSink;
}

/** A request body after JSON parsing, before any call runs. */
export type Payload =
  | { kind: "parse_error" }
  | { kind: "single"; item: unknown }
  | { kind: "batch"; items: unknown[] };

/** Who is calling and over what. */
export interface DispatchContext {
  /** The token's subject, or null when the caller gave no valid token. */
  subject: string | null;
  /** The WebSocket session, when there is one. */
  session?: Session;
  /** Aborts every call of this payload (the connection went away). */
  signal?: AbortSignal;
}

/**
 * Serves JSON-RPC 2.0 payloads against a set of declared methods: parsing,
 * batches, notifications, params and result validation, time limits, and the
 * mapping of failures to error objects.
 */
export class Dispatcher {
  readonly #methods = new Map<string, MethodImpl>();
  readonly #maxBatch: number;
  readonly #defaultTimeoutMs: number;
  readonly #onInternalError?: InternalErrorSink;

  /** Build a dispatcher over `options.methods`. */
  constructor(options: DispatcherOptions) {
    for (const impl of options.methods) {
      if (this.#methods.has(impl.contract.name)) {
        throw new TypeError(`method ${impl.contract.name} is implemented twice`);
      }
      this.#methods.set(impl.contract.name, impl);
    }
    this.#maxBatch = options.maxBatch ?? 100;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    this.#onInternalError = options.onInternalError;
  }

  /** The served methods, in the order they were given. */
  get methods(): MethodImpl[] {
    return [...this.#methods.values()];
  }

  /** Parse a request body. Never throws. */
  parse(text: string): Payload {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { kind: "parse_error" };
    }
    return Array.isArray(value) ? { kind: "batch", items: value } : { kind: "single", item: value };
  }

  /**
   * Whether every call in the payload is to a public method, so that it may
   * run without a token. Anything unparseable or unknown is not public.
   */
  isPublicOnly(payload: Payload): boolean {
    const items = payload.kind === "single"
      ? [payload.item]
      : payload.kind === "batch"
      ? payload.items
      : [];
    if (items.length === 0) return false;
    return items.every((item) => {
      const name = (item as { method?: unknown } | null)?.method;
      return typeof name === "string" && this.#methods.get(name)?.contract.public === true;
    });
  }

  /**
   * Run the calls of a payload. Returns the response (an object, or an array
   * for a batch), or `undefined` when nothing must be sent back (notifications
   * only).
   */
  async execute(
    payload: Payload,
    ctx: DispatchContext,
  ): Promise<Response | Response[] | undefined> {
    if (payload.kind === "parse_error") {
      return errorResponse(
        null,
        new RoamError("parse_error", "parse error: the body is not valid JSON"),
      );
    }
    if (payload.kind === "single") return await this.#one(payload.item, ctx);
    if (payload.items.length === 0) {
      return errorResponse(
        null,
        new RoamError("invalid_request", "invalid request: an empty batch"),
      );
    }
    if (payload.items.length > this.#maxBatch) {
      return errorResponse(
        null,
        new RoamError(
          "invalid_request",
          `invalid request: a batch of ${payload.items.length} calls; at most ${this.#maxBatch} are allowed`,
          { size: payload.items.length, limit: this.#maxBatch },
        ),
      );
    }
    const responses = await Promise.all(payload.items.map((item) => this.#one(item, ctx)));
    const sent = responses.filter((r): r is Response => r !== undefined);
    return sent.length ? sent : undefined;
  }

  /**
   * Answer every call of a payload with `error` without running any of them
   * (a socket over its limit, say). Notifications get no answer.
   */
  refuse(payload: Payload, error: RoamError): Response | Response[] | undefined {
    if (payload.kind === "parse_error") return errorResponse(null, error);
    const items = payload.kind === "single" ? [payload.item] : payload.items;
    const answers = items
      .filter((item) =>
        !(item !== null && typeof item === "object" && !Array.isArray(item) && !("id" in item))
      )
      .map((item) => {
        const id = IdSchema.safeParse((item as { id?: unknown } | null)?.id);
        return errorResponse(id.success ? id.data : null, error);
      });
    if (payload.kind === "single") return answers[0];
    return answers.length ? answers : undefined;
  }

  /** Parse and run a body in one step (for tests and simple transports). */
  async handle(text: string, ctx: DispatchContext): Promise<Response | Response[] | undefined> {
    return await this.execute(this.parse(text), ctx);
  }

  async #one(item: unknown, ctx: DispatchContext): Promise<Response | undefined> {
    const parsed = RequestSchema.safeParse(item);
    if (!parsed.success) {
      const id = IdSchema.safeParse((item as { id?: unknown } | null)?.id);
      return errorResponse(
        id.success ? id.data : null,
        new RoamError("invalid_request", "invalid request: not a JSON-RPC 2.0 request object", {
          issues: parsed.error.issues.map(({ path, message }) => ({ path, message })),
        }),
      );
    }
    const request = parsed.data;
    const notification = !("id" in request);
    try {
      const result = await this.#call(request, ctx);
      return notification ? undefined : { jsonrpc: "2.0", id: request.id ?? null, result };
    } catch (error) {
      return notification
        ? undefined
        : errorResponse(request.id ?? null, error, this.#onInternalError);
    }
  }

  async #call(request: Request, ctx: DispatchContext): Promise<unknown> {
    const impl = this.#methods.get(request.method);
    if (!impl) {
      throw new RoamError(
        "method_not_found",
        `method not found: ${request.method}; 'rpc.discover' lists the methods`,
        { method: request.method },
      );
    }
    const { contract } = impl;
    if (!contract.public && ctx.subject === null) {
      throw new RoamError("unauthorized", "unauthorized: this method needs a token");
    }
    if (contract.transport === "ws" && !ctx.session) {
      throw new RoamError(
        "unsupported",
        `${contract.name} needs a WebSocket session; connect to /rpc/ws`,
        { method: contract.name },
      );
    }
    const params = this.#params(contract, request.params);
    const limit = contract.timeoutMs ?? this.#defaultTimeoutMs;
    const controller = new AbortController();
    const onAbort = () => controller.abort(ctx.signal?.reason);
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
    const callCtx: CallContext = {
      signal: controller.signal,
      subject: ctx.subject,
      session: ctx.session,
    };
    try {
      let raw = impl.handler(params, callCtx);
      // Only work that is still pending needs a deadline; synchronous handlers
      // (health checks) skip the timer entirely.
      if (raw instanceof Promise) {
        raw = await deadlines.race(raw, limit, () => {
          const error = new RoamError(
            "timeout",
            `${contract.name} did not finish within ${limit} ms`,
            {
              method: contract.name,
              timeoutMs: limit,
            },
          );
          controller.abort(error);
          return error;
        });
      }
      const checked = contract.result.safeParse(raw);
      if (!checked.success) {
        throw new Error(
          `${contract.name} returned a result that fails its schema: ${checked.error.message}`,
        );
      }
      return checked.data;
    } finally {
      ctx.signal?.removeEventListener("abort", onAbort);
    }
  }

  #params(contract: MethodImpl["contract"], raw: Request["params"]): unknown {
    let input: unknown = raw;
    const isObjectSchema = contract.params instanceof z.ZodObject;
    if (Array.isArray(raw) && contract.positional) {
      if (raw.length > contract.positional.length) {
        throw new RoamError(
          "invalid_params",
          `invalid params for ${contract.name}: at most ${contract.positional.length} by position (${
            contract.positional.join(", ")
          })`,
          { method: contract.name, positional: contract.positional },
        );
      }
      input = Object.fromEntries(raw.map((v, i) => [contract.positional![i], v]));
    } else if (raw === undefined && isObjectSchema) {
      input = {};
    }
    const parsed = contract.params.safeParse(input);
    if (!parsed.success) throw invalidParams(contract.name, parsed.error);
    return parsed.data;
  }
}

function errorResponse(id: Id, error: unknown, sink?: InternalErrorSink): Response {
  return { jsonrpc: "2.0", id, error: toErrorObject(error, sink) };
}
