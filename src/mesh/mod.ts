/**
 * The mesh: every roam host on the LAN as this host sees it. Hosts announce
 * themselves on a UDP multicast group and gossip by unicast with known peers
 * (`--peer`); failures are detected in the manner of SWIM (direct probe,
 * indirect probe through other members, suspicion, incarnation numbers).
 * Every packet is encrypted and authenticated with AES-GCM under a key
 * derived from the mesh secret, and protected against replay. Records larger
 * than a packet travel over HTTP (`mesh.record`, `mesh.sync`).
 *
 * @module
 */
export {
  Mesh,
  type MeshEventSink,
  type MeshIdentity,
  type MeshOptions,
  type MeshStats,
} from "./mesh.ts";
export { meshMethods } from "./methods.ts";
export type { Endpoint, GossipTransport, TransportOptions } from "./transport.ts";
export { hostAddress, type HostFinder, isUrlRef } from "./address.ts";
export { type Exclusion, placeAgent, type Placement, type PlaceOptions } from "./placement.ts";
export {
  DEFAULT_MULTICAST_GROUP,
  DEFAULT_MULTICAST_PORT,
  isMulticastV4,
  type MeshConfig,
  type MeshConfigInput,
  MeshConfigSchema,
  type MulticastGroup,
  parseMulticastGroup,
} from "./config.ts";
export type { MeshHost, MeshMember, MeshRecord } from "./record.ts";
export type { MemberState } from "./membership.ts";
export { type Gpu, type Metrics, parseNvidiaSmi, ResourceMonitor } from "./resources.ts";
export { deriveMeshKey, MESH_KEY_INFO, MeshKeyring } from "./crypto.ts";
export {
  decodePacket,
  encodePacket,
  type Envelope,
  MAX_PACKET_BYTES,
  PACKET_VERSION,
} from "./packet.ts";
