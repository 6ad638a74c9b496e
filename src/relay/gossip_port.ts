import { Buffer } from "node:buffer";

/** A UDP address. */
export interface UdpEndpoint {
  hostname: string;
  port: number;
}

/** What a hub needs to give its relayed hosts a gossip port. */
export interface HubGossip {
  /** Address the ports are bound on: the hub's own gossip bind address. */
  bindHost: string;
  /** The mesh's multicast group, for announcements a relayed host sends; none: not sent. */
  group?: UdpEndpoint;
}

/** Largest datagram passed on either way (the mesh's packets are at most 1,400 bytes). */
const MAX_DATAGRAM_BYTES = 1_400;

/**
 * One relayed host's gossip port on its hub: a UDP socket whose datagrams go
 * down the host's relay connection (`deliver`), and from which the datagrams
 * the host sends up go out. To the rest of the mesh the host is simply at
 * `HUB_ADDRESS:port`; the packets stay sealed with the mesh key end to end, so
 * the hub passes them on without opening them. Lossy like UDP: what cannot
 * be delivered now is dropped, and the mesh's probes and gossip deal with it.
 */
export class GossipPort {
  readonly #conn: Deno.DatagramConn;
  readonly #group?: UdpEndpoint;
  #deliver: ((packet: Uint8Array, from: UdpEndpoint) => void) | null = null;
  readonly #loop: Promise<void>;
  #closed = false;
  /** Datagrams dropped: too large, or nowhere to deliver them. */
  dropped = 0;

  /** Bind a free UDP port on `gossip.bindHost` (the same port again when `port` is free). */
  constructor(gossip: HubGossip, port = 0) {
    this.#group = gossip.group;
    this.#conn = bind(gossip.bindHost, port);
    this.#loop = this.#receive();
  }

  /** The bound port. */
  get port(): number {
    return (this.#conn.addr as Deno.NetAddr).port;
  }

  /** Where datagrams that arrive go now; null while the host is away (they are dropped). */
  attach(deliver: ((packet: Uint8Array, from: UdpEndpoint) => void) | null): void {
    this.#deliver = deliver;
  }

  /** Send a datagram from this port to `to`, or to the multicast group when `to` is null. */
  send(packet: Uint8Array, to: UdpEndpoint | null): void {
    const target = to ?? this.#group;
    if (this.#closed || !target || packet.byteLength > MAX_DATAGRAM_BYTES) {
      this.dropped++;
      return;
    }
    this.#conn.send(packet, { transport: "udp", hostname: target.hostname, port: target.port })
      .catch(() => this.dropped++);
  }

  /** Close the socket; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
    await this.#loop;
  }

  async #receive() {
    const buffer = new Uint8Array(65536);
    while (!this.#closed) {
      let packet: Uint8Array;
      let from: Deno.Addr;
      try {
        [packet, from] = await this.#conn.receive(buffer);
      } catch {
        if (this.#closed) return;
        // A transient error must not become a busy loop.
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      const addr = from as Deno.NetAddr;
      if (!this.#deliver || packet.byteLength > MAX_DATAGRAM_BYTES) {
        this.dropped++;
        continue;
      }
      this.#deliver(packet.slice(), { hostname: addr.hostname, port: addr.port });
    }
  }
}

/** Base64 of a datagram, for a relay frame. */
export function datagramToText(packet: Uint8Array): string {
  return Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength).toString("base64");
}

/** A datagram from its base64 in a relay frame. */
export function datagramFromText(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64"));
}

function bind(hostname: string, port: number): Deno.DatagramConn {
  try {
    return Deno.listenDatagram({ transport: "udp", hostname, port });
  } catch (error) {
    if (port !== 0 && error instanceof Deno.errors.AddrInUse) return bind(hostname, 0);
    throw error;
  }
}
