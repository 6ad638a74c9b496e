import type { z } from "zod";

/** Which transports may carry a method. */
export type Transport = "any" | "ws";

/** What a method is: its name, what it does, and the schemas of its params and result. */
export interface MethodSpec<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  /** Dotted name, `subsystem.verb` (for example `host.health`). */
  name: string;
  /** One sentence for `rpc.discover` and `--help`. */
  summary: string;
  /** Schema of the params; an object schema takes named params. */
  params: P;
  /** Schema of the result. */
  result: R;
  /**
   * Names of the params in order, so that by-position params (a JSON array)
   * map onto an object schema.
   */
  positional?: readonly string[];
  /** Callable without a token. Only `host.health` is, in roam itself. */
  public?: boolean;
  /** `ws` for methods that need a session (subscriptions). Default `any`. */
  transport?: Transport;
  /** Time limit for one call; the default is the dispatcher's. */
  timeoutMs?: number;
}

/** A declared method: the one place its schemas live; servers implement it, clients call it. */
export type MethodContract<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> =
  Readonly<MethodSpec<P, R>>;

/**
 * Declare a method once, with zod schemas for its params and its result.
 *
 * @example
 * const health = defineMethod({
 *   name: "host.health",
 *   summary: "Whether the host answers.",
 *   params: z.object({}),
 *   result: z.object({ ok: z.literal(true) }),
 *   public: true,
 * });
 */
export function defineMethod<P extends z.ZodType, R extends z.ZodType>(
  spec: MethodSpec<P, R>,
): MethodContract<P, R> {
  if (!/^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)+$/.test(spec.name)) {
    throw new TypeError(
      `method name "${spec.name}" must be dotted lowerCamel words, like "host.health"`,
    );
  }
  return Object.freeze({ ...spec });
}

/** A live connection that can receive server notifications (a WebSocket session). */
export interface Session {
  /** Unique per connection. */
  readonly id: string;
  /** Whether the connection has closed; notifications after that are dropped. */
  readonly closed: boolean;
  /** Send a JSON-RPC notification to the client. */
  notify(method: string, params: unknown): void;
  /** Run `fn` once when the connection closes (release subscriptions here). */
  onClose(fn: () => void): void;
}

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** Aborted when the call times out or its connection goes away. */
  signal: AbortSignal;
  /** Who called: the token's subject, or null for a public call without a token. */
  subject: string | null;
  /** The WebSocket session, when the call came over one. */
  session?: Session;
}

/** The function that serves a method. */
export type Handler<C extends MethodContract> = (
  params: z.output<C["params"]>,
  ctx: CallContext,
) => Promise<z.input<C["result"]>> | z.input<C["result"]>;

/** A contract bound to the function that serves it. */
export interface MethodImpl {
  /** The declared method. */
  readonly contract: MethodContract;
  /** Serves validated params. */
  readonly handler: (params: unknown, ctx: CallContext) => unknown;
}

/**
 * Bind a contract to its handler; the dispatcher validates params before and
 * the result after.
 */
export function implement<C extends MethodContract>(contract: C, handler: Handler<C>): MethodImpl {
  return { contract, handler: handler as MethodImpl["handler"] };
}
