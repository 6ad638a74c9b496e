import { WS_TOKEN_PREFIX } from "../rpc/mod.ts";
import { DownFrameSchema, RELAY_PROTOCOL, relayHeaders, type UpFrame } from "./frame.ts";
import { datagramFromText, datagramToText, type UdpEndpoint } from "./gossip_port.ts";
import {
  closeQuietly,
  MAX_STREAM_BUFFER_BYTES,
  MAX_STREAMS_PER_HOST,
  messageData,
  messageFields,
} from "./streams.ts";

/** Where a relayed host's mesh datagrams go, and what it hears about its gossip port. */
export interface GossipSink {
  /** A datagram that arrived for this host at its gossip port on the hub. */
  packet(packet: Uint8Array, from: UdpEndpoint): void;
  /** The hub (re)accepted this host and gave it this gossip port. */
  port(port: number): void;
}

/** Options for {@linkcode RelayLink}. */
export interface RelayLinkOptions {
  /** The hub's base URL, like `http://hub.example:7420`. */
  hub: string;
  /** This host's id and name, sent in the hello. */
  self: { id: string; name: string };
  /** A fresh host token for each connection attempt. */
  token: () => string;
  /** Serves a relayed request in process (the host's own HTTP app). */
  handle: (request: Request) => Response | Promise<Response>;
  /**
   * The host's own base URL, where relayed WebSockets (`/rpc/ws`) are opened
   * (a WebSocket cannot be served in process). None: they are refused.
   */
  local?: () => string;
  /** Reconnect backoff: first delay and the most it grows to, in ms (each jittered). */
  backoff?: { minMs?: number; maxMs?: number };
  /** Where log lines go. */
  log?: (line: string) => void;
}

/**
 * The connected side of relay mode: keeps one outbound WebSocket to a hub,
 * reconnecting with bounded, jittered backoff, and answers every request the
 * hub passes down by running it through this host's own HTTP handler. While
 * it runs, the host is reachable at {@linkcode RelayLink.url}.
 *
 * @example
 * const link = new RelayLink({ hub, self: { id, name }, token, handle: app.fetch });
 * link.start();
 * console.log(link.url); // http://hub:7420/relay/<id>
 * await link.stop();
 */
export class RelayLink {
  readonly #options: RelayLinkOptions;
  readonly #handling = new Set<Promise<void>>();
  #socket?: WebSocket;
  #closed?: Promise<void>;
  #retry?: ReturnType<typeof setTimeout>;
  #attempt = 0;
  #stopped = false;
  #connected = false;
  #waiters: (() => void)[] = [];
  #gossipPort: number | null = null;
  #gossip: GossipSink | null = null;
  /** Relayed WebSockets: this host's end of each, by the hub's stream id. */
  readonly #streams = new Map<number, WebSocket>();
  /** Resolve when each local end that was ever opened has closed. */
  readonly #streamsClosed = new Set<Promise<void>>();

  /** A link that does nothing until {@linkcode RelayLink.start}. */
  constructor(options: RelayLinkOptions) {
    this.#options = { ...options, hub: options.hub.replace(/\/+$/, "") };
  }

  /** Where other hosts reach this one: `HUB/relay/<id>`. */
  get url(): string {
    return `${this.#options.hub}/relay/${this.#options.self.id}`;
  }

  /** Whether the hub has accepted this host now. */
  get connected(): boolean {
    return this.#connected;
  }

  /** The hub's address, as this host reaches it. */
  get hubHost(): string {
    return new URL(this.#options.hub).hostname.replace(/^\[|\]$/g, "");
  }

  /** This host's gossip port on the hub, once a hub running a mesh has welcomed it. */
  get gossipPort(): number | null {
    return this.#gossipPort;
  }

  /** Take the mesh datagrams that arrive for this host (null: drop them). */
  onGossip(sink: GossipSink | null): void {
    this.#gossip = sink;
  }

  /**
   * Have the hub send a mesh datagram from this host's gossip port: to `to`,
   * or to the multicast group when null. False when not connected now.
   */
  sendGossip(packet: Uint8Array, to: UdpEndpoint | null): boolean {
    const socket = this.#socket;
    if (!this.#connected || socket?.readyState !== WebSocket.OPEN) return false;
    // The hub sends only to IP addresses; it never resolves names for others.
    if (to && !/^[0-9A-Fa-f.:]{2,45}$/.test(to.hostname)) return false;
    socket.send(JSON.stringify({ t: "udp", to, data: datagramToText(packet) } satisfies UpFrame));
    return true;
  }

  /** Open the connection; it is kept open until {@linkcode RelayLink.stop}. */
  start(): void {
    if (!this.#stopped && !this.#socket && !this.#retry) this.#open();
  }

  /** Resolves once the hub has accepted this host (at once when it has). */
  ready(): Promise<void> {
    if (this.#connected) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Close the connection, stop reconnecting and wait for requests being answered. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (this.#socket && this.#socket.readyState !== WebSocket.CLOSED) {
      this.#socket.close(1000, "host stopping");
    }
    await this.#closed;
    await Promise.allSettled([...this.#handling]);
    this.#endStreams("the host is stopping");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#streamsClosed),
      new Promise((resolve) => timer = setTimeout(resolve, 2_000)),
    ]);
    clearTimeout(timer);
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  #open() {
    const { hub, self, token, log } = this.#options;
    const socket = new WebSocket(`${hub.replace(/^http/, "ws")}/relay/connect`, [
      RELAY_PROTOCOL,
      `${WS_TOKEN_PREFIX}${token()}`,
    ]);
    this.#socket = socket;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#closed = promise;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ t: "hello", id: self.id, name: self.name } satisfies UpFrame));
    });
    socket.addEventListener("error", () => {/* the close event follows and says what to do */});
    socket.addEventListener("close", (event) => {
      resolve();
      this.#endStreams("the relay connection closed");
      if (this.#socket === socket) this.#socket = undefined;
      const was = this.#connected;
      this.#connected = false;
      if (this.#stopped) return;
      if (was) {
        log?.(`roam: relay: lost the connection to ${hub} (${event.code}); reconnecting`);
      } else if (this.#attempt === 0) {
        log?.(
          `roam: relay: cannot connect to ${hub} (${event.code}); check that it is a roam host with this mesh's secret; retrying with backoff`,
        );
      }
      this.#schedule();
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = DownFrameSchema.parse(JSON.parse(String(event.data)));
      } catch {
        socket.close(1008, "not a relay frame");
        return;
      }
      if (frame.t === "welcome") {
        this.#attempt = 0;
        this.#connected = true;
        log?.(`roam: relay: reachable at ${frame.url}`);
        if (frame.gossipPort !== undefined && frame.gossipPort !== this.#gossipPort) {
          this.#gossipPort = frame.gossipPort;
          this.#gossip?.port(frame.gossipPort);
        }
        for (const waiter of this.#waiters.splice(0)) waiter();
        return;
      }
      if (frame.t === "udp") {
        this.#gossip?.packet(datagramFromText(frame.data), frame.from);
        return;
      }
      if (frame.t === "ws-open") return this.#openStream(socket, frame);
      if (frame.t === "ws-msg") {
        const local = this.#streams.get(frame.sid);
        if (local?.readyState !== WebSocket.OPEN) return;
        if (local.bufferedAmount > MAX_STREAM_BUFFER_BYTES) {
          this.#streams.delete(frame.sid);
          closeQuietly(local, 4013, "too much unread; closed by the relay");
          sendUp(socket, { t: "ws-close", sid: frame.sid, code: 4013 });
          return;
        }
        local.send(messageData(frame));
        return;
      }
      if (frame.t === "ws-close") {
        const local = this.#streams.get(frame.sid);
        this.#streams.delete(frame.sid);
        if (local) closeQuietly(local, frame.code, frame.reason);
        return;
      }
      const answering = this.#answer(socket, frame).finally(() => this.#handling.delete(answering));
      this.#handling.add(answering);
    });
  }

  /** Open this host's end of a relayed WebSocket on its own listener and pipe it up. */
  #openStream(socket: WebSocket, frame: { sid: number; path: string; protocols: string[] }) {
    const refuse = (reason: string) => sendUp(socket, { t: "ws-refused", sid: frame.sid, reason });
    const base = this.#options.local?.();
    if (!base) return refuse("this host does not take relayed WebSockets");
    if (this.#streams.size >= MAX_STREAMS_PER_HOST) {
      return refuse(`${MAX_STREAMS_PER_HOST} relayed WebSockets are open already`);
    }
    let local: WebSocket;
    try {
      const url = new URL(frame.path, base.replace(/^http/, "ws"));
      local = new WebSocket(url, frame.protocols);
    } catch (error) {
      return refuse((error as Error).message);
    }
    local.binaryType = "arraybuffer";
    this.#streams.set(frame.sid, local);
    const closed = new Promise<void>((resolve) => local.addEventListener("close", () => resolve()));
    this.#streamsClosed.add(closed);
    closed.then(() => this.#streamsClosed.delete(closed));
    let opened = false;
    local.addEventListener("open", () => {
      opened = true;
      sendUp(socket, { t: "ws-opened", sid: frame.sid, protocol: local.protocol });
    });
    local.addEventListener("message", (event) => {
      if (this.#streams.get(frame.sid) !== local) return;
      if (socket.bufferedAmount > MAX_STREAM_BUFFER_BYTES) {
        this.#streams.delete(frame.sid);
        closeQuietly(local, 4013, "the relay connection is backed up");
        sendUp(socket, { t: "ws-close", sid: frame.sid, code: 4013 });
        return;
      }
      sendUp(socket, { t: "ws-msg", sid: frame.sid, ...messageFields(event.data) });
    });
    local.addEventListener("error", () => {/* the close event follows */});
    local.addEventListener("close", (event) => {
      if (this.#streams.get(frame.sid) !== local) return;
      this.#streams.delete(frame.sid);
      if (!opened) return refuse(`the host's listener refused the WebSocket (${event.code})`);
      sendUp(socket, { t: "ws-close", sid: frame.sid, code: event.code, reason: event.reason });
    });
  }

  #endStreams(why: string) {
    for (const [sid, local] of this.#streams) {
      this.#streams.delete(sid);
      closeQuietly(local, 4012, why);
    }
  }

  async #answer(
    socket: WebSocket,
    frame: { id: number; method: string; path: string; headers: [string, string][]; body: string },
  ) {
    let reply: UpFrame;
    try {
      const hasBody = frame.method !== "GET" && frame.method !== "HEAD";
      const response = await this.#options.handle(
        new Request(new URL(frame.path, "http://relay.invalid"), {
          method: frame.method,
          headers: frame.headers,
          body: hasBody ? frame.body : undefined,
        }),
      );
      reply = {
        t: "res",
        id: frame.id,
        status: response.status,
        headers: relayHeaders(response.headers),
        body: await response.text(),
      };
    } catch (error) {
      reply = {
        t: "res",
        id: frame.id,
        status: 500,
        headers: [["content-type", "application/json"]],
        body: JSON.stringify({ error: `relayed request failed: ${(error as Error).message}` }),
      };
    }
    // The hub sends it again after a reconnect when this answer cannot go now.
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(reply));
  }

  #schedule() {
    const { minMs = 250, maxMs = 30_000 } = this.#options.backoff ?? {};
    const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(this.#attempt, 20));
    this.#attempt++;
    const delay = ceiling / 2 + Math.random() * ceiling / 2;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (!this.#stopped) this.#open();
    }, delay);
  }
}

function sendUp(socket: WebSocket, frame: UpFrame) {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}
