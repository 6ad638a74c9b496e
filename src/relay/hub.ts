import { RoamError } from "../errors/mod.ts";
import { type Authenticate, bearerToken, toErrorObject, WS_TOKEN_PREFIX } from "../rpc/mod.ts";
import type { RelayHubConfig } from "./config.ts";
import { type DownFrame, RELAY_PROTOCOL, relayHeaders, UpFrameSchema } from "./frame.ts";
import { datagramFromText, datagramToText, GossipPort, type HubGossip } from "./gossip_port.ts";
import {
  closeQuietly,
  MAX_EARLY_MESSAGES,
  MAX_STREAM_BUFFER_BYTES,
  MAX_STREAMS_PER_HOST,
  messageData,
  messageFields,
  STREAM_OPEN_TIMEOUT_MS,
} from "./streams.ts";

/** Options for {@linkcode RelayHub}. */
export interface RelayHubOptions {
  /** Checks the host token a connecting host presents. */
  authenticate: Authenticate;
  /** Queue bounds, deadlines and the offline threshold. */
  config: RelayHubConfig;
  /** Largest request body relayed (the host's usual request limit). */
  maxBodyBytes: number;
  /** The hub's own base URL, to tell a connected host where it is reachable. */
  baseUrl: () => string;
  /**
   * Give each connected host a gossip port on the hub, so that it is a live
   * member of the mesh (its datagrams pass through its relay connection).
   * Absent: the hub runs no mesh, and connected hosts are reached by URL only.
   */
  gossip?: HubGossip;
  /** Where log lines go. */
  log?: (line: string) => void;
  /**
   * Where events go: `relay.connected`, `relay.disconnected`, `relay.offline`,
   * and `relay.queued` for a request that must wait for its host to come back.
   */
  events?: {
    append(type: string, data: Record<string, unknown>, subject: string | null): unknown;
  };
}

/** What the hub knows of one connected (or once connected) host. */
export interface RelayedHost {
  /** The host's id. */
  id: string;
  /** Its name, from its hello. */
  name: string;
  /** `online` while connected or recently so; `offline` past `offlineAfterMs` without a connection. */
  state: "online" | "offline";
  /** When it was last connected, ms since the epoch. */
  lastSeen: number;
  /** Requests waiting for it (queued or sent and unanswered). */
  waiting: number;
}

interface Pending {
  id: number;
  frame: string;
  bytes: number;
  resolve: (response: Response) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Node {
  id: string;
  name: string;
  socket?: WebSocket;
  lastSeen: number;
  offline: boolean;
  queue: Pending[];
  sent: Map<number, Pending>;
  bytes: number;
  gossip?: GossipPort;
  /** WebSockets relayed to the host, by stream id. */
  streams: Map<number, Stream>;
}

/** A caller's WebSocket relayed to a connected host. */
interface Stream {
  /** Resolves when the host has opened its end (with the subprotocol) or refused. */
  opened?: (outcome: { protocol: string } | { refused: string }) => void;
  /** The caller's socket, once upgraded. */
  client?: WebSocket;
  /** Messages from the host that came before the caller's socket opened. */
  early: (string | Uint8Array)[];
}

/** Datagrams for a host wait no more than this in its socket's send buffer; past it they drop. */
const MAX_BUFFERED_GOSSIP_BYTES = 1024 * 1024;

/**
 * The hub side of relay mode: hosts that cannot accept connections keep a
 * WebSocket open to the hub (`GET /relay/connect`), and the hub serves
 * `/relay/<hostId>/…` for them by passing each request down that socket as a
 * frame and the answer back. Requests for a host that is away wait in a
 * bounded queue until it reconnects or their deadline passes. Delivery is at
 * least once: a request sent to a host whose socket drops before it answers
 * is sent again after it reconnects.
 *
 * @example
 * const hub = new RelayHub({ authenticate, config, maxBodyBytes, baseUrl: () => url });
 * app.get("/relay/connect", (c) => hub.connect(c.req.raw));
 * app.all("/relay/:id/*", (c) => hub.forward(c.req.param("id"), c.req.raw));
 */
export class RelayHub {
  readonly #options: RelayHubOptions;
  readonly #nodes = new Map<string, Node>();
  #nextId = 1;
  #closed = false;

  /** A hub with nobody connected yet. */
  constructor(options: RelayHubOptions) {
    this.#options = options;
  }

  /** The hosts that have connected, with offline ones marked as such. */
  hosts(): RelayedHost[] {
    return [...this.#nodes.values()].map((node) => ({
      id: node.id,
      name: node.name,
      state: this.#isOffline(node) ? "offline" : "online",
      lastSeen: node.socket ? Date.now() : node.lastSeen,
      waiting: node.queue.length + node.sent.size,
    }));
  }

  /** `GET /relay/connect`: upgrade a connecting host's request to the relay WebSocket. */
  connect(request: Request): Response {
    if (this.#closed) return fail(503, new RoamError("unavailable", "the hub is shutting down"));
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return fail(
        426,
        new RoamError("unsupported", "/relay/connect speaks WebSocket; send an upgrade request"),
      );
    }
    const offered = (request.headers.get("sec-websocket-protocol") ?? "")
      .split(",").map((p) => p.trim()).filter(Boolean);
    const fromProtocol = offered.find((p) => p.startsWith(WS_TOKEN_PREFIX))?.slice(
      WS_TOKEN_PREFIX.length,
    );
    const auth = this.#options.authenticate(bearerToken(request) ?? fromProtocol ?? null);
    if (!auth.ok) return fail(401, auth.error);
    const { socket, response } = Deno.upgradeWebSocket(request, {
      protocol: offered.includes(RELAY_PROTOCOL) ? RELAY_PROTOCOL : undefined,
      idleTimeout: 60,
    });
    this.#serve(socket, auth.expiresAt);
    return response;
  }

  /** Serve a request under `/relay/<hostId>/` by passing it to that host. */
  async forward(hostId: string, request: Request): Promise<Response> {
    const node = this.#nodes.get(hostId);
    if (!node || this.#closed) {
      return fail(
        503,
        new RoamError(
          "unavailable",
          `no host ${hostId} is connected to this relay; start it with 'roam host --relay ${this.#options.baseUrl()}'`,
          { host: hostId },
        ),
      );
    }
    if (this.#isOffline(node)) {
      return fail(
        503,
        new RoamError(
          "unavailable",
          `host ${node.name} (${hostId}) is offline: not connected to this relay for ${
            Math.round((Date.now() - node.lastSeen) / 1000)
          } s`,
          { host: hostId, lastSeen: new Date(node.lastSeen).toISOString() },
        ),
      );
    }
    const prefix = `/relay/${hostId}`;
    const url = new URL(request.url);
    const path = (url.pathname.slice(prefix.length) || "/") + url.search;
    if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      return await this.#forwardSocket(node, request, path);
    }
    let body: string;
    try {
      body = await readBounded(request, this.#options.maxBodyBytes);
    } catch (error) {
      return fail(413, error);
    }
    const id = this.#nextId++;
    const frame = JSON.stringify(
      {
        t: "req",
        id,
        method: request.method,
        path,
        headers: relayHeaders(request.headers),
        body,
      } satisfies DownFrame,
    );
    const bytes = frame.length;
    const { maxQueue, maxQueueBytes, deadlineMs } = this.#options.config;
    const waiting = node.queue.length + node.sent.size;
    if (waiting >= maxQueue || node.bytes + bytes > maxQueueBytes) {
      return fail(
        503,
        new RoamError(
          "unavailable",
          `the relay queue for host ${node.name} is full (${waiting} requests, ${node.bytes} bytes; at most ${maxQueue} and ${maxQueueBytes}); try again when it has caught up`,
          { host: hostId, waiting, bytes: node.bytes, maxQueue, maxQueueBytes },
        ),
      );
    }
    const { promise, resolve } = Promise.withResolvers<Response>();
    const pending: Pending = {
      id,
      frame,
      bytes,
      resolve,
      timer: setTimeout(() => {
        this.#drop(node, pending);
        resolve(fail(
          504,
          new RoamError(
            "timeout",
            `host ${node.name} did not answer through the relay within ${deadlineMs} ms; it may still run the request`,
            { host: hostId, deadlineMs },
          ),
        ));
      }, deadlineMs),
    };
    node.bytes += bytes;
    node.queue.push(pending);
    if (!node.socket) {
      this.#options.events?.append("relay.queued", { request: id, waiting: waiting + 1 }, hostId);
    }
    this.#flush(node);
    return promise;
  }

  /** Close every relay socket and answer every waiting request with 503. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const closing: Promise<void>[] = [];
    for (const node of this.#nodes.values()) {
      closing.push(node.gossip?.close() ?? Promise.resolve());
      this.#endStreams(node, "the relay hub is shutting down");
      for (const pending of [...node.queue, ...node.sent.values()]) {
        this.#drop(node, pending);
        pending.resolve(
          fail(503, new RoamError("unavailable", "the relay hub is shutting down")),
        );
      }
      const socket = node.socket;
      if (socket && socket.readyState !== WebSocket.CLOSED) {
        closing.push(new Promise((resolve) => socket.addEventListener("close", () => resolve())));
        socket.close(1001, "hub shutting down");
      }
    }
    await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, 2000))]);
  }

  #serve(socket: WebSocket, expiresAt: number) {
    let node: Node | undefined;
    const expiry = setTimeout(
      () => socket.close(4001, "token expired"),
      Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1),
    );
    socket.addEventListener("close", () => {
      clearTimeout(expiry);
      if (!node || node.socket !== socket) return;
      node.socket = undefined;
      node.gossip?.attach(null);
      this.#endStreams(node, "the relayed host's connection to the hub was lost");
      node.lastSeen = Date.now();
      this.#options.events?.append("relay.disconnected", { name: node.name }, node.id);
      // Sent and unanswered: send again after the reconnect (at least once).
      node.queue.unshift(...[...node.sent.values()].sort((a, b) => a.id - b.id));
      node.sent.clear();
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = UpFrameSchema.parse(JSON.parse(String(event.data)));
      } catch {
        socket.close(1008, "not a relay frame");
        return;
      }
      if (frame.t === "hello") {
        if (node) return;
        node = this.#nodes.get(frame.id);
        if (!node && !this.#makeRoom()) {
          socket.close(1013, `more than ${MAX_NODES} hosts connected to this hub`);
          return;
        }
        if (!node) {
          node = {
            id: frame.id,
            name: frame.name,
            lastSeen: Date.now(),
            offline: false,
            queue: [],
            sent: new Map(),
            bytes: 0,
            streams: new Map(),
          };
          this.#nodes.set(frame.id, node);
        }
        const old = node.socket;
        node.socket = socket;
        node.name = frame.name;
        node.offline = false;
        node.lastSeen = Date.now();
        if (old) {
          this.#endStreams(node, "the relayed host reconnected");
          node.queue.unshift(...[...node.sent.values()].sort((a, b) => a.id - b.id));
          node.sent.clear();
          old.close(4000, "replaced by a newer connection of the same host");
        }
        this.#options.log?.(`roam: relay: host ${frame.name} (${frame.id}) connected`);
        this.#options.events?.append("relay.connected", { name: frame.name }, frame.id);
        const gossip = this.#gossipPort(node, socket);
        send(socket, {
          t: "welcome",
          url: `${this.#options.baseUrl()}/relay/${frame.id}`,
          ...(gossip ? { gossipPort: gossip.port } : {}),
        });
        this.#flush(node);
        return;
      }
      if (!node) {
        socket.close(1008, "say hello first");
        return;
      }
      if (frame.t === "udp") {
        if (node.socket === socket) node.gossip?.send(datagramFromText(frame.data), frame.to);
        return;
      }
      if (frame.t !== "res") {
        if (node.socket === socket) this.#onStreamFrame(node, frame);
        return;
      }
      const pending = node.sent.get(frame.id);
      if (!pending) return; // a late or repeated answer: the caller has had one
      this.#drop(node, pending);
      pending.resolve(
        new Response(frame.body, { status: frame.status, headers: frame.headers }),
      );
    });
  }

  /**
   * Relay a caller's WebSocket to the connected host: ask the host to open
   * the same path on its own listener, then upgrade the caller with the
   * subprotocol the host chose, and pass messages both ways. Not queued: a
   * host that is away now is refused at once.
   */
  async #forwardSocket(node: Node, request: Request, path: string): Promise<Response> {
    const socket = node.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return fail(
        503,
        new RoamError(
          "unavailable",
          `host ${node.name} is not connected to this relay now; WebSockets wait for no one, try again when it is back`,
          { host: node.id },
        ),
      );
    }
    if (node.streams.size >= MAX_STREAMS_PER_HOST) {
      return fail(
        503,
        new RoamError(
          "unavailable",
          `${MAX_STREAMS_PER_HOST} WebSockets are relayed to host ${node.name} already; close one first`,
          { host: node.id, limit: MAX_STREAMS_PER_HOST },
        ),
      );
    }
    const offered = (request.headers.get("sec-websocket-protocol") ?? "")
      .split(",").map((p) => p.trim()).filter(Boolean).slice(0, 16);
    // A token in the Authorization header travels as roam's token subprotocol.
    const bearer = bearerToken(request);
    if (bearer && !offered.some((p) => p.startsWith(WS_TOKEN_PREFIX))) {
      offered.push(`${WS_TOKEN_PREFIX}${bearer}`);
    }
    const sid = this.#nextId++;
    const stream: Stream = { early: [] };
    node.streams.set(sid, stream);
    const outcome = await new Promise<{ protocol: string } | { refused: string }>((resolve) => {
      const timer = setTimeout(
        () => resolve({ refused: `no answer within ${STREAM_OPEN_TIMEOUT_MS} ms` }),
        STREAM_OPEN_TIMEOUT_MS,
      );
      stream.opened = (result) => {
        clearTimeout(timer);
        resolve(result);
      };
      send(socket, { t: "ws-open", sid, path, protocols: offered });
    });
    stream.opened = undefined;
    if ("refused" in outcome || node.streams.get(sid) !== stream) {
      node.streams.delete(sid);
      send(socket, { t: "ws-close", sid });
      const why = "refused" in outcome ? outcome.refused : "its relay connection dropped";
      return fail(
        502,
        new RoamError(
          "unavailable",
          `host ${node.name} did not open the WebSocket ${path}: ${why}`,
          { host: node.id, path },
        ),
      );
    }
    const { socket: client, response } = Deno.upgradeWebSocket(request, {
      protocol: outcome.protocol || undefined,
      idleTimeout: 60,
    });
    client.binaryType = "arraybuffer";
    stream.client = client;
    client.addEventListener("open", () => {
      for (const data of stream.early.splice(0)) client.send(data);
    });
    client.addEventListener("message", (event) => {
      const up = node.socket;
      if (!up || up.readyState !== WebSocket.OPEN) return;
      send(up, { t: "ws-msg", sid, ...messageFields(event.data) });
    });
    client.addEventListener("close", (event) => {
      if (node.streams.get(sid) !== stream) return;
      node.streams.delete(sid);
      if (node.socket) send(node.socket, { t: "ws-close", sid, code: event.code });
    });
    return response;
  }

  /** A frame about a relayed WebSocket, from the connected host. */
  #onStreamFrame(
    node: Node,
    frame:
      | { t: "ws-opened"; sid: number; protocol: string }
      | { t: "ws-refused"; sid: number; reason: string }
      | { t: "ws-msg"; sid: number; data: string; binary?: boolean }
      | { t: "ws-close"; sid: number; code?: number; reason?: string },
  ) {
    const stream = node.streams.get(frame.sid);
    if (!stream) return;
    switch (frame.t) {
      case "ws-opened":
        stream.opened?.({ protocol: frame.protocol });
        return;
      case "ws-refused":
        stream.opened?.({ refused: frame.reason });
        return;
      case "ws-msg": {
        const client = stream.client;
        const data = messageData(frame);
        if (!client || client.readyState === WebSocket.CONNECTING) {
          if (stream.early.length < MAX_EARLY_MESSAGES) stream.early.push(data);
          return;
        }
        if (client.readyState !== WebSocket.OPEN) return;
        if (client.bufferedAmount > MAX_STREAM_BUFFER_BYTES) {
          node.streams.delete(frame.sid);
          closeQuietly(client, 4013, "the caller reads too slowly; closed by the relay"); // 4013: 1013, try again later
          if (node.socket) send(node.socket, { t: "ws-close", sid: frame.sid });
          return;
        }
        client.send(data);
        return;
      }
      case "ws-close":
        node.streams.delete(frame.sid);
        stream.opened?.({ refused: frame.reason ?? "closed" });
        if (stream.client) closeQuietly(stream.client, frame.code, frame.reason);
        return;
    }
  }

  /** Close every WebSocket relayed to `node` (its connection is gone). */
  #endStreams(node: Node, why: string) {
    for (const [sid, stream] of node.streams) {
      node.streams.delete(sid);
      stream.opened?.({ refused: why });
      if (stream.client) closeQuietly(stream.client, 4012, why);
    }
  }

  /**
   * The host's gossip port on this hub (kept across its reconnections, so
   * its mesh address stays the same), now delivering down `socket`.
   */
  #gossipPort(node: Node, socket: WebSocket): GossipPort | undefined {
    const gossip = this.#options.gossip;
    if (!gossip) return undefined;
    if (!node.gossip) {
      try {
        node.gossip = new GossipPort(gossip);
      } catch (error) {
        this.#options.log?.(
          `roam: relay: cannot open a gossip port for host ${node.name}: ${
            (error as Error).message
          }; it is reachable by URL but not a live mesh member`,
        );
        return undefined;
      }
    }
    node.gossip.attach((packet, from) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      if (socket.bufferedAmount > MAX_BUFFERED_GOSSIP_BYTES) return void node.gossip!.dropped++;
      send(socket, { t: "udp", from, data: datagramToText(packet) });
    });
    return node.gossip;
  }

  /** Forget the longest-gone host with nothing waiting when the table is full. */
  #makeRoom(): boolean {
    if (this.#nodes.size < MAX_NODES) return true;
    const idle = [...this.#nodes.values()]
      .filter((n) => !n.socket && n.queue.length === 0 && n.sent.size === 0)
      .sort((a, b) => a.lastSeen - b.lastSeen)[0];
    if (idle) {
      this.#nodes.delete(idle.id);
      void idle.gossip?.close();
    }
    return idle !== undefined;
  }

  #flush(node: Node) {
    const socket = node.socket;
    while (socket?.readyState === WebSocket.OPEN && node.queue.length) {
      const pending = node.queue.shift()!;
      node.sent.set(pending.id, pending);
      socket.send(pending.frame);
    }
  }

  #drop(node: Node, pending: Pending) {
    clearTimeout(pending.timer);
    const at = node.queue.indexOf(pending);
    if (at >= 0) node.queue.splice(at, 1);
    else if (!node.sent.delete(pending.id)) return;
    node.bytes -= pending.bytes;
  }

  #isOffline(node: Node): boolean {
    if (node.socket) return false;
    if (!node.offline && Date.now() - node.lastSeen > this.#options.config.offlineAfterMs) {
      node.offline = true;
      this.#options.log?.(`roam: relay: host ${node.name} (${node.id}) is offline`);
      this.#options.events?.append("relay.offline", {
        name: node.name,
        lastSeen: new Date(node.lastSeen).toISOString(),
      }, node.id);
    }
    return node.offline;
  }
}

/** Most hosts a hub remembers (connected, or away with requests waiting). */
const MAX_NODES = 1024;

async function readBounded(request: Request, max: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  const tooLarge = () =>
    new RoamError("too_large", `the request body is over ${max} bytes`, { limit: max });
  if (declared > max) throw tooLarge();
  if (!request.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > max) throw tooLarge();
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

function send(socket: WebSocket, frame: DownFrame) {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function fail(status: number, error: unknown): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", id: null, error: toErrorObject(error) }), {
    status,
    headers: { "content-type": "application/json" },
  });
}
