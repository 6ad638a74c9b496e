/**
 * Relay mode, for a host that cannot accept inbound connections: it keeps a
 * WebSocket open to a hub (any roam host) with {@linkcode RelayLink}, and the
 * hub ({@linkcode RelayHub}) serves `HUB/relay/<hostId>/…` for it by passing
 * each request down that socket, queueing (bounded, with a deadline) while the
 * host is away. A connected host's address is simply a URL on the hub.
 *
 * @module
 */
export { type RelayedHost, RelayHub, type RelayHubOptions } from "./hub.ts";
export { RelayLink, type RelayLinkOptions } from "./link.ts";
export { type RelayHubConfig, RelayHubConfigSchema, RelayUrlsSchema } from "./config.ts";
