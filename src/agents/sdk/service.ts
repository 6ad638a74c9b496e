import type { AgentContext, Message, SendOptions, ServiceRecord } from "./context.ts";
import { AgentError, NotHandled } from "./errors.ts";

/** Anything with a zod-like `parse` (a zod schema, for example). */
export interface ContractSchema<T> {
  /** Return the value when valid; throw otherwise. */
  parse(value: unknown): T;
}

/** One operation of a contract: the schemas of its request and its reply. */
export interface OperationSpec<Req = unknown, Rep = unknown> {
  /** What a caller sends (the message's `args`). */
  request: ContractSchema<Req>;
  /** What the service answers. */
  reply: ContractSchema<Rep>;
}

/** A contract as it travels in service metadata and lookups: names only, no schemas. */
export interface ContractRef {
  /** Service name. */
  name: string;
  /** Contract version. */
  version: string;
  /** The operation names. */
  operations: string[];
}

// deno-lint-ignore no-explicit-any
type AnyOperations = Record<string, OperationSpec<any, any>>;

/** The request type of an operation. */
export type RequestOf<O> = O extends OperationSpec<infer Req, unknown> ? Req : never;
/** The reply type of an operation. */
export type ReplyOf<O> = O extends OperationSpec<unknown, infer Rep> ? Rep : never;

/** Handlers of every operation of a contract, for {@linkcode ServiceContract.serve}. */
export type ContractHandlers<O extends AnyOperations> = {
  [K in keyof O]: (
    request: RequestOf<O[K]>,
    msg: Message,
  ) => ReplyOf<O[K]> | Promise<ReplyOf<O[K]>>;
};

/** A typed service contract; see {@linkcode defineServiceContract}. */
export interface ServiceContract<O extends AnyOperations> {
  /** Service name. */
  readonly name: string;
  /** Contract version. */
  readonly version: string;
  /** The operations with their schemas. */
  readonly operations: O;
  /** What goes in the metadata of an advertisement (`metadata.contract`) and in lookups. */
  readonly ref: ContractRef;
  /** Advertise this contract from the calling agent. */
  advertise(
    ctx: AgentContext,
    options?: { ttlMs?: number; metadata?: Record<string, unknown> },
  ): Promise<ServiceRecord>;
  /** Services that implement exactly this contract (name, version and operation set). */
  lookup(ctx: AgentContext): Promise<ServiceRecord[]>;
  /**
   * Call an operation on the first live service of this contract: the request
   * is checked before it leaves, the reply when it arrives.
   *
   * @throws {AgentError} `invalid_input` when the request or the reply does not match.
   */
  call<K extends keyof O & string>(
    ctx: AgentContext,
    operation: K,
    request: RequestOf<O[K]>,
    options?: SendOptions,
  ): Promise<ReplyOf<O[K]>>;
  /** Whether a message is a call of one of this contract's operations. */
  handles(msg: Message): boolean;
  /**
   * Serve a message: check its request, run the operation's handler, check
   * the reply. Throws {@linkcode NotHandled} for a kind that is not an
   * operation of this contract.
   */
  serve(msg: Message, handlers: ContractHandlers<O>): Promise<unknown>;
}

/** A valid service or operation name. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * Define a typed service contract: a name, a version, and per operation a
 * schema for its request and its reply. The server advertises it and serves
 * calls with it; the client calls through it; each side checks what crosses.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { Agent, defineServiceContract, type Message } from "@roam/agent";
 *
 * const Calc = defineServiceContract({
 *   name: "calc",
 *   version: "1",
 *   operations: {
 *     add: { request: z.object({ a: z.number(), b: z.number() }), reply: z.number() },
 *   },
 * });
 *
 * export default class Server extends Agent {
 *   override async onCreation() { await Calc.advertise(this.ctx); }
 *   override handleMessage(msg: Message) {
 *     if (Calc.handles(msg)) return Calc.serve(msg, { add: ({ a, b }) => a + b });
 *     return super.handleMessage(msg);
 *   }
 * }
 * // elsewhere: const sum = await Calc.call(this.ctx, "add", { a: 1, b: 2 }); // 3
 * ```
 */
export function defineServiceContract<O extends AnyOperations>(
  spec: { name: string; version?: string; operations: O },
): ServiceContract<O> {
  const version = spec.version ?? "1";
  const names = Object.keys(spec.operations);
  for (const name of [spec.name, ...names]) {
    if (!NAME.test(name)) {
      throw new AgentError(
        "invalid_input",
        `"${name}" is not a valid service or operation name: use 1 to 128 of A-Z a-z 0-9 . _ : -`,
      );
    }
  }
  if (names.length === 0 || names.length > 64) {
    throw new AgentError("invalid_input", `contract ${spec.name} needs 1 to 64 operations`);
  }
  const ref: ContractRef = { name: spec.name, version, operations: [...names].sort() };
  const check = <T>(schema: ContractSchema<T>, value: unknown, what: string): T => {
    try {
      return schema.parse(value);
    } catch (error) {
      throw new AgentError(
        "invalid_input",
        `${what} does not match contract ${spec.name}@${version}: ${
          error instanceof Error ? error.message : String(error)
        }`,
        { contract: ref },
      );
    }
  };
  const operation = (name: string) => {
    if (!Object.hasOwn(spec.operations, name)) {
      throw new AgentError(
        "invalid_input",
        `contract ${spec.name}@${version} has no operation "${name}"; it has ${names.join(", ")}`,
      );
    }
    return spec.operations[name];
  };
  return {
    name: spec.name,
    version,
    operations: spec.operations,
    ref,
    advertise: (ctx, options = {}) =>
      ctx.services.advertise({
        name: spec.name,
        version,
        capabilities: ref.operations,
        ttlMs: options.ttlMs,
        metadata: { ...options.metadata, contract: ref },
      }),
    lookup: (ctx) => ctx.services.lookup({ name: spec.name, contract: ref } as { name: string }),
    async call(ctx, name, request, options = {}) {
      const op = operation(name);
      const args = check(op.request, request, `the request of ${name}`);
      const reply = await ctx.services.call(spec.name, name, args, {
        ...options,
        contract: ref,
      } as SendOptions);
      return check(op.reply, reply, `the reply of ${name}`);
    },
    handles: (msg) => Object.hasOwn(spec.operations, msg.kind),
    async serve(msg, handlers) {
      if (!Object.hasOwn(spec.operations, msg.kind)) throw new NotHandled(msg.kind);
      const op = spec.operations[msg.kind];
      const request = check(op.request, msg.args, `the request of ${msg.kind}`);
      const reply = await handlers[msg.kind](request, msg);
      return check(op.reply, reply, `the reply of ${msg.kind}`);
    },
  };
}
