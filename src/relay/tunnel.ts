import type { Endpoint, GossipTransport, TransportOptions } from "../mesh/transport.ts";
import type { RelayLink } from "./link.ts";

/**
 * Port stated until the hub has given one: 9, the discard port, so that
 * nothing answers datagrams sent there before the host's next incarnation
 * states the real one.
 */
const NOT_YET = 9;

/**
 * The mesh transport of a host behind a relay: its datagrams go up its relay
 * connection and leave from its gossip port on the hub; what arrives there
 * comes down the same connection. The rest of the mesh sees a member at
 * `HUB_ADDRESS:port` with the relay URL, probes it and gossips with it like
 * any other. While the connection is down, nothing is sent (the mesh counts
 * send errors) and the others come to suspect the host, as they should.
 *
 * @example
 * const mesh = new Mesh({ ..., transport: (options) => new TunnelTransport(link, options) });
 */
export class TunnelTransport implements GossipTransport {
  readonly #link: RelayLink;
  readonly #options: TransportOptions;
  #open = false;

  /** A transport over `link`; nothing is received until {@linkcode TunnelTransport.open}. */
  constructor(link: RelayLink, options: TransportOptions) {
    this.#link = link;
    this.#options = options;
  }

  /** Start receiving; where others reach this host (the hub's address and this host's port there). */
  open(): Endpoint {
    this.#open = true;
    this.#link.onGossip({
      packet: (packet, from) => {
        if (this.#open) this.#options.onPacket(packet, from, "unicast");
      },
      port: (port) => {
        if (this.#open) this.#options.onEndpoint?.(this.#endpoint(port));
      },
    });
    return this.#endpoint(this.#link.gossipPort ?? NOT_YET);
  }

  /** The relay stands for the interfaces: multicast goes out on the hub's LAN while connected. */
  get multicastInterfaces(): string[] {
    return this.#open && this.#link.connected ? [`relay:${this.#link.hubHost}`] : [];
  }

  /** Nothing to join: the hub sends multicast for this host. */
  setMulticastInterfaces(): Promise<void> {
    return Promise.resolve();
  }

  /** Send a datagram through the hub; false while not connected. */
  send(packet: Uint8Array, to: Endpoint): Promise<boolean> {
    return Promise.resolve(this.#open && this.#link.sendGossip(packet, to));
  }

  /** Multicast through the hub; false while not connected. */
  sendMulticast(packet: Uint8Array): Promise<boolean> {
    return Promise.resolve(this.#open && this.#link.sendGossip(packet, null));
  }

  /** Stop sending and receiving; idempotent. The link itself stays up (the host owns it). */
  close(): Promise<void> {
    this.#open = false;
    this.#link.onGossip(null);
    return Promise.resolve();
  }

  #endpoint(port: number): Endpoint {
    return { hostname: this.#link.hubHost, port };
  }
}
