/**
 * Memory: entries (one immutable version of some data, named `uuid:evolution`),
 * nicknames mapped to deterministic UUIDv5 ids, manifests (nested blueprints
 * of entry ids), pools (memory, local, peer, S3) chained as read-through
 * caches, records that name their transforms (gzip, AES-256-GCM) and are
 * decoded as data only, `guarantee` scopes, the `memory.*` RPC methods and a
 * client for scripts.
 *
 * @module
 */
export {
  constant,
  Entry,
  type EntryInit,
  type EntryKind,
  type EntryRef,
  type IdentityOptions,
  variable,
} from "./entry.ts";
export {
  checkNickname,
  type EntryIdentity,
  globalId,
  isGlobalId,
  isUuid,
  MANIFEST_NAMESPACE,
  manifestUuid,
  NAMESPACE_DNS,
  namespaceFor,
  nicknameUuid,
  parseGlobalId,
  ROAM_NAMESPACE,
  uuidv5,
} from "./identity.ts";
export { type EntryValue, type JsonValue } from "./value.ts";
export { guarantee, track } from "./guarantee.ts";
export { type Blueprint, type EntryTree, leafIds, type RecalledTree } from "./manifest.ts";
export {
  type Manifest,
  MAX_ENTRIES_PER_CALL,
  type MemorizeOptions,
  Memory,
  type MemoryOptions,
  type PoolOption,
} from "./memory.ts";
export {
  type DecodeOptions,
  decodeRecord,
  type EncodeOptions,
  encodeRecord,
  readRecordHeader,
  type RecordHeader,
  RecordHeaderSchema,
  sha256Hex,
} from "./record.ts";
export { type Keyring, type TransformName, TRANSFORMS } from "./transforms.ts";
export {
  type MemorySecrets,
  MemorySecretsSchema,
  readMemorySecrets,
  type S3Secret,
  S3SecretSchema,
} from "./secrets.ts";
export type { KeyPage, ListOptions, Pool, PoolKind, PoolStats } from "./pools/pool.ts";
export { MemoryPool, type MemoryPoolOptions } from "./pools/memory.ts";
export type { BlobStore } from "./pools/blob_store.ts";
export { LocalPool, type RecordLink } from "./pools/local.ts";
export { PeerPool, type PeerPoolOptions } from "./pools/peer.ts";
export { S3Pool, type S3PoolOptions } from "./pools/s3.ts";
export { ChainPool } from "./pools/chain.ts";
export { type CopyOptions, copyPool, type CopyProgress } from "./pools/copy.ts";
export {
  configNickname,
  type ConfigSnapshot,
  exportConfig,
  importConfig,
  redactConfig,
} from "./config_snapshot.ts";
export {
  createHostMemory,
  type HostMemory,
  type HostMemoryOptions,
  type MemoryConfig,
  MemoryConfigSchema,
  openPoolOffline,
  secretsPath,
} from "./host_memory.ts";
export { type ConfigSource, memoryMethods } from "./methods.ts";
export { openMemory, RemoteMemory } from "./remote.ts";
export { fromWire, toWire, type WireEntry } from "./wire.ts";
export { readConfigSnapshot, type ReadSnapshotOptions } from "./config_load.ts";
export { restorePlugins, type RestoreReport } from "./config_restore.ts";
