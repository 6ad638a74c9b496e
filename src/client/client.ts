import {
  API,
  type Api,
  EVENT_NOTIFICATION,
  EventNotificationSchema,
  type MethodName,
  type ParamsOf,
  type ResultOf,
} from "../api/mod.ts";
import { RoamError } from "../errors/mod.ts";
import { type CallOptions, RpcHttpClient, RpcWsClient } from "../rpc/mod.ts";
import type { RoamEvent } from "../api/mod.ts";
import { resolveTarget, type TargetOptions } from "./target.ts";

/** Options for {@linkcode connect}. */
export interface ConnectOptions extends TargetOptions {
  /** Time limit per call. Default 60 000 ms. */
  timeoutMs?: number;
}

/** A live event subscription. */
export interface Subscription {
  /** The subscription id the host gave. */
  readonly id: string;
  /** Stop hearing events. */
  close(): Promise<void>;
}

/** Options for {@linkcode RoamClient.subscribe}. */
export interface SubscribeOptions {
  /** Replay kept events after this seq first. */
  since?: number;
  /** Only these types (a type ending in `.` is a prefix). */
  types?: string[];
}

// `{}` here asks whether every param is optional, so that `params` may be left out.
// deno-lint-ignore ban-types
type MethodFn<M extends MethodName> = {} extends ParamsOf<M>
  ? (params?: ParamsOf<M>, options?: CallOptions) => Promise<ResultOf<M>>
  : (params: ParamsOf<M>, options?: CallOptions) => Promise<ResultOf<M>>;

type NamespaceOf<M> = M extends `${infer N}.${string}` ? N : never;

/** Every method as `client.namespace.verb(params)`, typed from the contracts. */
export type Namespaces = {
  [N in NamespaceOf<MethodName>]: {
    [M in MethodName as M extends `${N}.${infer V}` ? V : never]: MethodFn<M>;
  };
};

/**
 * A client of one roam host, typed from the same zod contracts the host
 * serves. Calls go over HTTP; methods that need a session (subscriptions) go
 * over one WebSocket opened on first use.
 */
export class RoamClient {
  /** The host's base URL. */
  readonly url: string;
  readonly #http: RpcHttpClient;
  readonly #token?: string;
  readonly #timeoutMs?: number;
  #ws?: Promise<RpcWsClient>;

  /** Use {@linkcode connect} rather than this. */
  constructor(url: string, token: string | undefined, timeoutMs?: number) {
    this.url = url;
    this.#token = token;
    this.#timeoutMs = timeoutMs;
    this.#http = new RpcHttpClient({ url, token, timeoutMs });
  }

  /** Call a method by name; params and result are typed and the result is checked against its schema. */
  async call<M extends MethodName>(
    method: M,
    params?: ParamsOf<M>,
    options?: CallOptions,
  ): Promise<ResultOf<M>> {
    const contract = API[method] as Api[MethodName];
    const raw = contract.transport === "ws"
      ? await (await this.#socket()).call(method, params ?? {}, options)
      : await this.#http.call(method, params ?? {}, options);
    const parsed = contract.result.safeParse(raw);
    if (!parsed.success) {
      throw new RoamError(
        "internal",
        `the host's reply to ${method} does not match this client's schema; are versions mismatched?`,
        {
          method,
          issues: parsed.error.issues,
        },
      );
    }
    return parsed.data as ResultOf<M>;
  }

  /** Call any method by name without compile-time types (for `roam rpc`). */
  async callUntyped(method: string, params?: unknown, options?: CallOptions): Promise<unknown> {
    const contract = (API as Record<string, Api[MethodName]>)[method];
    if (contract?.transport === "ws") {
      return await (await this.#socket()).call(method, params, options);
    }
    return await this.#http.call(method, params, options);
  }

  /**
   * Hear events as they happen (after replaying kept ones from `since`, when
   * given). Events arrive in seq order with no gap.
   */
  async subscribe(
    options: SubscribeOptions,
    onEvent: (event: RoamEvent) => void,
  ): Promise<Subscription> {
    const ws = await this.#socket();
    const pending: RoamEvent[] = [];
    let id: string | undefined;
    // Notifications can arrive before the subscribe reply; hold them until the id is known.
    const stop = ws.on(EVENT_NOTIFICATION, (params) => {
      const note = EventNotificationSchema.safeParse(params);
      if (!note.success) return;
      if (id === undefined) pending.push(note.data.event);
      else if (note.data.subscription === id) onEvent(note.data.event);
    });
    try {
      const result = await this.call("events.subscribe", options);
      id = result.subscription;
    } catch (error) {
      stop();
      throw error;
    }
    pending.splice(0).forEach(onEvent);
    const subscription = id;
    return {
      id: subscription,
      close: async () => {
        stop();
        if (!ws.closed) await ws.call("events.unsubscribe", { subscription }).catch(() => {});
      },
    };
  }

  /** Run `listener` when the WebSocket (if one was opened) closes. */
  async onDisconnect(listener: (reason: RoamError) => void): Promise<() => void> {
    return (await this.#socket()).onClose(listener);
  }

  /** Close the WebSocket, if one was opened. */
  async close(): Promise<void> {
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws) await (await ws.catch(() => undefined))?.close();
  }

  #socket(): Promise<RpcWsClient> {
    this.#ws ??= RpcWsClient.connect({
      url: this.url,
      token: this.#token,
      timeoutMs: this.#timeoutMs,
    });
    this.#ws.catch(() => this.#ws = undefined);
    return this.#ws;
  }
}

/** A {@linkcode RoamClient} with every method also as `client.namespace.verb()`. */
export type Roam = RoamClient & Namespaces;

/**
 * Connect to a roam host. With no options it finds the local host and mints a
 * token from its secret; otherwise give `url` and `token` (or set `ROAM_HOST`
 * and `ROAM_TOKEN`). Nothing is sent until the first call.
 *
 * @example
 * import { connect } from "./mod.ts";
 * const mesh = await connect();
 * console.log(await mesh.host.health());
 * await mesh.close();
 */
export async function connect(options: ConnectOptions = {}): Promise<Roam> {
  const target = await resolveTarget(options);
  const client = new RoamClient(target.url, target.token, options.timeoutMs);
  const namespaces = new Map<string, unknown>();
  return new Proxy(client, {
    get(target, key) {
      if (typeof key !== "string" || key in target) {
        // Methods run on the client itself: its private fields are not on the proxy.
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      }
      if (!namespaces.has(key)) {
        namespaces.set(
          key,
          new Proxy({}, {
            get: (_, verb) =>
              typeof verb === "string"
                ? (params?: unknown, opts?: CallOptions) =>
                  target.call(`${key}.${verb}` as MethodName, params as never, opts)
                : undefined,
          }),
        );
      }
      return namespaces.get(key);
    },
  }) as Roam;
}
