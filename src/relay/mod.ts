/**
 * Relay mode, for a host that cannot accept inbound connections: it keeps a
 * WebSocket open to a hub (any roam host) with {@linkcode RelayLink}, and the
 * hub ({@linkcode RelayHub}) serves `HUB/relay/<hostId>/…` for it by passing
 * each request down that socket, queueing (bounded, with a deadline) while the
 * host is away. A connected host's address is simply a URL on the hub. Its
 * mesh datagrams travel the same connection ({@linkcode TunnelTransport}) and
 * leave from a gossip port the hub keeps for it ({@linkcode GossipPort}), so it
 * is a live member of the hub's mesh.
 *
 * @module
 */
export { type RelayedHost, RelayHub, type RelayHubOptions } from "./hub.ts";
export { type GossipSink, RelayLink, type RelayLinkOptions } from "./link.ts";
export { GossipPort, type HubGossip, type UdpEndpoint } from "./gossip_port.ts";
export { TunnelTransport } from "./tunnel.ts";
export { type RelayHubConfig, RelayHubConfigSchema, RelayUrlsSchema } from "./config.ts";
