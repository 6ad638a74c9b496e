import { RoamError } from "../errors/mod.ts";
import type { MulticastGroup } from "./config.ts";

/** A UDP address. */
export interface Endpoint {
  hostname: string;
  port: number;
}

/** How a packet arrived. */
export type Via = "unicast" | "multicast";

/** Options for {@linkcode Transport}. */
export interface TransportOptions {
  /** Address of the unicast gossip socket: 0.0.0.0, or 127.0.0.1 for a loopback-only host. */
  bindHost: string;
  /** Its port; 0 picks a free one. */
  port: number;
  /** When `port` is taken, take a free one instead of failing. */
  anyPortIfTaken: boolean;
  /** The multicast group to join while there are LAN interfaces. */
  group: MulticastGroup;
  /** Every datagram received, copied. Must not throw. */
  onPacket: (packet: Uint8Array, from: Endpoint, via: Via) => void;
  /** Where to report socket trouble. */
  log: (line: string) => void;
  /** Where others send to it changed after `open` (a tunnel learns its port late). */
  onEndpoint?: (endpoint: Endpoint) => void;
}

/**
 * How the mesh sends and receives its datagrams: UDP sockets on the LAN
 * ({@linkcode Transport}), or a tunnel through a relay hub for a host that
 * others cannot reach (`--relay`).
 */
export interface GossipTransport {
  /** Start receiving; returns where others send to it (port 0 while not yet known). */
  open(): Endpoint;
  /** The LAN addresses multicast goes out on now (none: no multicast). */
  readonly multicastInterfaces: string[];
  /** Send multicast on exactly these interface addresses (a tunnel decides for itself). */
  setMulticastInterfaces(addresses: readonly string[]): Promise<void>;
  /** Send one datagram; false when it could not go. */
  send(packet: Uint8Array, to: Endpoint): Promise<boolean>;
  /** Send one datagram to the multicast group; false when it could not go. */
  sendMulticast(packet: Uint8Array): Promise<boolean>;
  /** Stop sending and receiving; idempotent. */
  close(): Promise<void>;
}

/**
 * The mesh's UDP sockets: one unicast socket that sends everything
 * (multicast included, TTL 1, so nothing leaves the LAN) and receives
 * unicast gossip, and one socket bound to the multicast group that receives
 * announcements on the LAN interfaces it has joined on.
 */
export class Transport implements GossipTransport {
  readonly #options: TransportOptions;
  #unicast?: Deno.DatagramConn;
  #multicast?: Deno.DatagramConn;
  readonly #memberships = new Map<string, Deno.MulticastV4Membership>();
  readonly #loops = new Set<Promise<void>>();
  readonly #sending = new Set<Promise<unknown>>();
  #closed = false;
  #changing: Promise<void> = Promise.resolve();

  /** Sockets for `options`; nothing is bound until {@linkcode Transport.open}. */
  constructor(options: TransportOptions) {
    this.#options = options;
  }

  /** Bind the unicast socket and start receiving; returns where it is bound. */
  open(): Endpoint {
    const { bindHost, port } = this.#options;
    try {
      this.#unicast = listen(bindHost, port, false);
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw bindError(error, bindHost, port);
      if (!this.#options.anyPortIfTaken) {
        throw new RoamError(
          "conflict",
          `UDP port ${port} on ${bindHost} is in use, so the mesh cannot gossip on it; pass another --gossip-port`,
          { address: bindHost, port },
        );
      }
      this.#unicast = listen(bindHost, 0, false);
      this.#options.log(
        `roam: UDP port ${port} is in use; gossiping on port ${
          (this.#unicast.addr as Deno.NetAddr).port
        } instead`,
      );
    }
    this.#loop(this.#unicast, "unicast");
    const addr = this.#unicast.addr as Deno.NetAddr;
    return { hostname: addr.hostname, port: addr.port };
  }

  /** The LAN addresses the group is joined on now. */
  get multicastInterfaces(): string[] {
    return [...this.#memberships.keys()];
  }

  /**
   * Be a member of the group on exactly these interface addresses (none
   * closes the multicast socket). Failures are logged and retried at the next
   * call.
   */
  setMulticastInterfaces(addresses: readonly string[]): Promise<void> {
    return this.#changing = this.#changing.then(() => this.#setInterfaces(addresses));
  }

  async #setInterfaces(addresses: readonly string[]) {
    if (this.#closed) return;
    for (const [address, membership] of this.#memberships) {
      if (addresses.includes(address)) continue;
      this.#memberships.delete(address);
      await membership.leave().catch(() => {/* the address may be gone already */});
    }
    if (addresses.length === 0) {
      this.#multicast?.close();
      this.#multicast = undefined;
      return;
    }
    if (!this.#multicast) {
      const { address, port } = this.#options.group;
      try {
        // Bound to the group address: it hears only the group, never unicast.
        this.#multicast = listen(address, port, true);
      } catch (error) {
        this.#options.log(
          `roam: cannot listen on multicast group ${address}:${port}: ${
            (error as Error).message
          }; hosts will not be discovered by multicast`,
        );
        return;
      }
      this.#loop(this.#multicast, "multicast");
    }
    for (const address of addresses) {
      if (this.#memberships.has(address)) continue;
      try {
        this.#memberships.set(
          address,
          await this.#multicast.joinMulticastV4(this.#options.group.address, address),
        );
      } catch (error) {
        if (error instanceof Deno.errors.AddrInUse) {
          // Already a member on that interface (it had another address before a re-bind).
          this.#memberships.set(address, {
            leave: async () => {},
            setLoopback: async () => {},
            setTTL: async () => {},
          });
          continue;
        }
        this.#options.log(
          `roam: cannot join multicast group ${this.#options.group.address} on ${address}: ${
            (error as Error).message
          }`,
        );
      }
    }
  }

  /** Send one datagram; false when the network refused it (no route, interface down). */
  send(packet: Uint8Array, to: Endpoint): Promise<boolean> {
    const conn = this.#unicast;
    if (!conn || this.#closed) return Promise.resolve(false);
    const sending = conn.send(packet, { transport: "udp", hostname: to.hostname, port: to.port })
      .then(() => true, () => false);
    this.#sending.add(sending);
    sending.finally(() => this.#sending.delete(sending));
    return sending;
  }

  /** Send one datagram to the group; false when not joined anywhere or refused. */
  sendMulticast(packet: Uint8Array): Promise<boolean> {
    if (this.#memberships.size === 0) return Promise.resolve(false);
    return this.send(packet, {
      hostname: this.#options.group.address,
      port: this.#options.group.port,
    });
  }

  /** Close both sockets after the sends in progress; idempotent. */
  async close(): Promise<void> {
    await this.#changing;
    if (this.#closed) return;
    await Promise.all(this.#sending);
    this.#closed = true;
    for (const membership of this.#memberships.values()) {
      await membership.leave().catch(() => {});
    }
    this.#memberships.clear();
    this.#unicast?.close();
    this.#multicast?.close();
    await Promise.all(this.#loops);
  }

  #loop(conn: Deno.DatagramConn, via: Via) {
    const loop = (async () => {
      const buffer = new Uint8Array(65536);
      let failures = 0;
      while (!this.#closed) {
        let packet: Uint8Array;
        let from: Deno.Addr;
        try {
          [packet, from] = await conn.receive(buffer);
        } catch (error) {
          if (this.#closed || error instanceof Deno.errors.BadResource) return;
          if (conn !== this.#unicast && conn !== this.#multicast) return;
          // A transient error must not become a busy loop.
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 10 * ++failures)));
          continue;
        }
        failures = 0;
        const addr = from as Deno.NetAddr;
        this.#options.onPacket(packet.slice(), { hostname: addr.hostname, port: addr.port }, via);
      }
    })();
    this.#loops.add(loop);
    loop.finally(() => this.#loops.delete(loop));
  }
}

function listen(hostname: string, port: number, reuseAddress: boolean): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname, port, reuseAddress, loopback: true });
}

function bindError(error: unknown, address: string, port: number): RoamError {
  return new RoamError(
    "unavailable",
    `cannot open the mesh's UDP socket on ${address}:${port}: ${(error as Error).message}`,
    { address, port },
  );
}
