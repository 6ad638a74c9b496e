import { RoamError } from "../errors/mod.ts";
import { fromErrorObject } from "./errors.ts";
import { NotificationSchema, ResponseSchema } from "./protocol.ts";
import { WS_PROTOCOL, WS_TOKEN_PREFIX } from "./ws.ts";

/** Options for {@linkcode RpcHttpClient}. */
export interface RpcClientOptions {
  /** Base URL of a host, like `http://127.0.0.1:7420`. */
  url: string;
  /** Bearer token; public methods work without one. */
  token?: string;
  /** Time limit per call. Default 60 000 ms. */
  timeoutMs?: number;
}

/** Options for one call. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Time limit for this call, overriding the client's. */
  timeoutMs?: number;
}

/**
 * Trims a base URL (no query, no fragment, no trailing slash) and checks that
 * it is http(s). The path stays: a host reached through a relay lives at
 * `HUB/relay/ID`, and dropping the path would reach the hub instead.
 */
export function normalizeHostUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RoamError(
      "invalid_input",
      `"${url}" is not a URL; give a host URL like http://127.0.0.1:7420`,
      { url },
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new RoamError("invalid_input", `host URL must be http(s), got ${parsed.protocol}`, {
      url,
    });
  }
  return parsed.origin + parsed.pathname.replace(/\/+$/, "");
}

/** Whether two host URLs name the same host base (origin and path). */
export function sameHostUrl(a: string, b: string): boolean {
  try {
    return normalizeHostUrl(a) === normalizeHostUrl(b);
  } catch {
    return false;
  }
}

/** A JSON-RPC 2.0 client over HTTP. Errors arrive as {@linkcode RoamError}s. */
export class RpcHttpClient {
  /** The host's base URL. */
  readonly url: string;
  readonly #token?: string;
  readonly #timeoutMs: number;
  #nextId = 1;

  /** Make a client; nothing is sent until the first call. */
  constructor(options: RpcClientOptions) {
    this.url = normalizeHostUrl(options.url);
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Call a method and return its result. */
  async call(method: string, params?: unknown, options: CallOptions = {}): Promise<unknown> {
    const id = this.#nextId++;
    const body = await this.#post({ jsonrpc: "2.0", method, params, id }, options);
    const parsed = ResponseSchema.safeParse(body);
    if (!parsed.success || Array.isArray(body)) {
      throw new RoamError(
        "internal",
        `the host at ${this.url} sent a reply that is not a JSON-RPC response`,
        {
          method,
        },
      );
    }
    const response = parsed.data;
    if ("error" in response) throw fromErrorObject(response.error);
    return response.result;
  }

  /** Send a notification: no reply, no result. */
  async notify(method: string, params?: unknown, options: CallOptions = {}): Promise<void> {
    await this.#post({ jsonrpc: "2.0", method, params }, options);
  }

  async #post(message: unknown, options: CallOptions): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const signals = [AbortSignal.timeout(timeoutMs)];
    if (options.signal) signals.push(options.signal);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let response: Response;
    try {
      response = await fetch(`${this.url}/rpc`, {
        method: "POST",
        headers,
        body: JSON.stringify(message),
        signal: AbortSignal.any(signals),
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === "TimeoutError") {
        throw new RoamError("timeout", `no reply from ${this.url} within ${timeoutMs} ms`, {
          url: this.url,
          timeoutMs,
        });
      }
      if (options.signal?.aborted) throw new RoamError("cancelled", "the call was cancelled");
      throw new RoamError(
        "unavailable",
        `cannot reach a roam host at ${this.url}: ${
          (error as Error).message
        }; is 'roam host' running there?`,
        { url: this.url },
      );
    }
    if (response.status === 204) {
      await response.body?.cancel();
      return undefined;
    }
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new RoamError(
        "unavailable",
        `${this.url} answered HTTP ${response.status} with a body that is not JSON; is it a roam host?`,
        { url: this.url, status: response.status },
      );
    }
  }
}

/** Options for {@linkcode RpcWsClient.connect}. */
export interface WsClientOptions {
  /** Base URL of a host (http or https; the ws URL is derived). */
  url: string;
  /** Bearer token, sent as a `roam.bearer.TOKEN` subprotocol. */
  token?: string;
  /** Time limit per call. Default 60 000 ms. */
  timeoutMs?: number;
  /** Most calls waiting for a reply at once. Default 64. */
  maxPending?: number;
}

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
};

/** A JSON-RPC 2.0 client over a WebSocket, with server notifications. */
export class RpcWsClient {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, Set<(params: unknown) => void>>();
  readonly #closeListeners = new Set<(reason: RoamError) => void>();
  readonly #timeoutMs: number;
  readonly #maxPending: number;
  #nextId = 1;
  #closed: RoamError | null = null;

  private constructor(socket: WebSocket, options: WsClientOptions) {
    this.#socket = socket;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#maxPending = options.maxPending ?? 64;
    socket.addEventListener("message", (event) => this.#onMessage(String(event.data)));
    socket.addEventListener("close", (event) => {
      const reason = new RoamError(
        event.code === 4001 ? "unauthorized" : "unavailable",
        `the WebSocket to the host closed (${event.code}${
          event.reason ? `: ${event.reason}` : ""
        })`,
        { closeCode: event.code },
      );
      this.#closed = reason;
      for (const [, p] of this.#pending) {
        clearTimeout(p.timer);
        p.reject(reason);
      }
      this.#pending.clear();
      for (const fn of this.#closeListeners) fn(reason);
    });
  }

  /** Open a WebSocket to a host's `/rpc/ws`; rejects with `unauthorized` for a bad token. */
  static async connect(options: WsClientOptions): Promise<RpcWsClient> {
    const base = normalizeHostUrl(options.url);
    const url = `${base.replace(/^http/, "ws")}/rpc/ws`;
    const protocols = [WS_PROTOCOL, ...(options.token ? [WS_TOKEN_PREFIX + options.token] : [])];
    const socket = new WebSocket(url, protocols);
    await new Promise<void>((resolve, reject) => {
      const onOpen = () => {
        socket.removeEventListener("error", onError);
        resolve();
      };
      const onError = () => {
        socket.removeEventListener("open", onOpen);
        reject(
          new RoamError(
            "unavailable",
            `cannot open a WebSocket to ${url}; check that the host runs and the token is valid ('roam token')`,
            { url },
          ),
        );
      };
      socket.addEventListener("open", onOpen, { once: true });
      socket.addEventListener("error", onError, { once: true });
    });
    return new RpcWsClient(socket, options);
  }

  /** Call a method and return its result. */
  call(method: string, params?: unknown, options: CallOptions = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#pending.size >= this.#maxPending) {
      return Promise.reject(
        new RoamError(
          "queue_full",
          `more than ${this.#maxPending} calls waiting on this WebSocket`,
          {
            limit: this.#maxPending,
          },
        ),
      );
    }
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new RoamError("timeout", `no reply to ${method} within ${timeoutMs} ms`, {
            method,
            timeoutMs,
          }),
        );
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#socket.send(JSON.stringify({ jsonrpc: "2.0", method, params, id }));
    });
  }

  /** Listen for server notifications of one method; returns a function that stops listening. */
  on(method: string, listener: (params: unknown) => void): () => void {
    let set = this.#listeners.get(method);
    if (!set) this.#listeners.set(method, set = new Set());
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Whether the socket has closed. */
  get closed(): boolean {
    return this.#closed !== null;
  }

  /** Run `listener` when the socket closes, with the reason. */
  onClose(listener: (reason: RoamError) => void): () => void {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /** Close the socket and wait until it is closed; pending calls fail. */
  async close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) =>
      this.#socket.addEventListener("close", resolve, { once: true })
    );
    this.#socket.close(1000, "client closed");
    await closed;
  }

  #onMessage(text: string) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return;
    }
    const response = ResponseSchema.safeParse(body);
    if (response.success) {
      const id = response.data.id;
      const pending = typeof id === "number" ? this.#pending.get(id) : undefined;
      if (!pending) return;
      this.#pending.delete(id as number);
      clearTimeout(pending.timer);
      if ("error" in response.data) pending.reject(fromErrorObject(response.data.error));
      else pending.resolve(response.data.result);
      return;
    }
    const note = NotificationSchema.safeParse(body);
    if (note.success) {
      for (const fn of this.#listeners.get(note.data.method) ?? []) fn(note.data.params);
    }
  }
}
