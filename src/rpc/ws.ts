import { RoamError } from "../errors/mod.ts";
import type { Dispatcher } from "./dispatch.ts";
import { toErrorObject } from "./errors.ts";
import { type Authenticate, bearerToken } from "./http.ts";
import type { Session } from "./method.ts";

/** The subprotocol roam speaks over WebSocket. */
export const WS_PROTOCOL = "roam.v1";

/**
 * Prefix of the subprotocol that carries a token, for clients (browsers) that
 * cannot set an `Authorization` header: `roam.bearer.TOKEN`.
 */
export const WS_TOKEN_PREFIX = "roam.bearer.";

/** Options for {@linkcode createWsRpcHandler}. */
export interface WsRpcOptions {
  /** Serves the calls. */
  dispatcher: Dispatcher;
  /** Checks the token given at the upgrade. */
  authenticate: Authenticate;
  /** Largest message accepted; a larger one closes the socket with 1009. */
  maxMessageBytes: number;
  /** Most calls running at once per socket; more are answered `queue_full`. */
  maxInFlight: number;
  /** Most bytes waiting to go out before a slow reader is disconnected (1013). */
  maxBufferedBytes: number;
  /** Called with every open session, so the owner can close them at shutdown. */
  track?: (socket: WebSocket) => () => void;
}

/**
 * A `GET /rpc/ws` handler: the same JSON-RPC 2.0 protocol over a WebSocket,
 * plus server notifications for subscriptions. The token comes in the
 * `Authorization` header or as a `roam.bearer.TOKEN` subprotocol; the socket
 * closes with 4001 when the token expires.
 */
export function createWsRpcHandler(options: WsRpcOptions): (request: Request) => Response {
  return (request) => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return json(
        426,
        new RoamError("unsupported", "this endpoint speaks WebSocket; send an upgrade request"),
      );
    }
    const offered = (request.headers.get("sec-websocket-protocol") ?? "")
      .split(",").map((p) => p.trim()).filter(Boolean);
    const fromProtocol = offered.find((p) => p.startsWith(WS_TOKEN_PREFIX))?.slice(
      WS_TOKEN_PREFIX.length,
    );
    const auth = options.authenticate(bearerToken(request) ?? fromProtocol ?? null);
    if (!auth.ok) return json(401, auth.error);
    const { socket, response } = Deno.upgradeWebSocket(request, {
      protocol: offered.includes(WS_PROTOCOL) ? WS_PROTOCOL : undefined,
      idleTimeout: 60,
    });
    serveSocket(socket, auth.subject, auth.expiresAt, options);
    return response;
  };
}

function serveSocket(socket: WebSocket, subject: string, expiresAt: number, options: WsRpcOptions) {
  const closers: (() => void)[] = [];
  const controller = new AbortController();
  let inFlight = 0;
  const untrack = options.track?.(socket);
  const session: Session = {
    id: crypto.randomUUID(),
    get closed() {
      return socket.readyState !== WebSocket.OPEN;
    },
    notify(method, params) {
      if (socket.readyState !== WebSocket.OPEN) return;
      if (socket.bufferedAmount > options.maxBufferedBytes) {
        socket.close(1013, "client reads too slowly; reconnect and resume from the last event seq");
        return;
      }
      socket.send(JSON.stringify({ jsonrpc: "2.0", method, params }));
    },
    onClose(fn) {
      closers.push(fn);
    },
  };
  // A timer cannot wait more than 2^31-1 ms (about 24.8 days; longer fires at
  // once) and tokens may live 30 days, so wait in steps.
  let expiry: ReturnType<typeof setTimeout>;
  const armExpiry = () => {
    const left = expiresAt - Date.now();
    expiry = left > MAX_TIMER_MS
      ? setTimeout(armExpiry, MAX_TIMER_MS)
      : setTimeout(() => socket.close(4001, "token expired"), Math.max(0, left));
  };
  armExpiry();
  socket.addEventListener("close", () => {
    clearTimeout(expiry);
    controller.abort(new RoamError("cancelled", "the WebSocket closed"));
    for (const fn of closers.splice(0)) {
      try {
        fn();
      } catch { /* a failing cleanup must not stop the others */ }
    }
    untrack?.();
  });
  socket.addEventListener("message", async (event) => {
    if (messageBytes(event.data, options.maxMessageBytes) > options.maxMessageBytes) {
      socket.close(1009, `message over ${options.maxMessageBytes} bytes`);
      return;
    }
    const text = typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data);
    if (inFlight >= options.maxInFlight) {
      const error = new RoamError(
        "queue_full",
        `more than ${options.maxInFlight} calls in flight on this socket; wait for replies`,
        { limit: options.maxInFlight },
      );
      const refused = options.dispatcher.refuse(options.dispatcher.parse(text), error);
      if (refused !== undefined) send(socket, refused);
      return;
    }
    inFlight++;
    try {
      const response = await options.dispatcher.handle(text, {
        subject,
        session,
        signal: controller.signal,
      });
      if (response !== undefined) send(socket, response);
    } finally {
      inFlight--;
    }
  });
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** The UTF-8 size of a message, without encoding it when its length settles the question. */
function messageBytes(data: string | ArrayBuffer | Blob, limit: number): number {
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (data instanceof Blob) return data.size;
  if (data.length * 3 <= limit) return data.length; // a UTF-16 unit is at most 3 UTF-8 bytes
  return new TextEncoder().encode(data).byteLength;
}

function send(socket: WebSocket, body: unknown) {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(body));
}

function json(status: number, error: RoamError): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", id: null, error: toErrorObject(error) }), {
    status,
    headers: { "content-type": "application/json" },
  });
}
