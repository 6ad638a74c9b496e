/**
 * The ArtifactStore: content-addressed blobs on every host, reachable
 * across the mesh. Blobs are named by their sha256 and kept under
 * `DATA_DIR/artifacts/blobs` with their metadata in SQLite; uploads and
 * downloads stream over HTTP (`PUT`/`POST /artifacts`, `GET`/`HEAD
 * /artifacts/<sha256>` with ranges) and are verified before they become
 * visible; quotas, expiry, pins and garbage collection bound what a host
 * keeps. `ArtifactMesh` locates, fetches and replicates blobs between hosts;
 * `AgentFiles` carries an agent's files with it when it moves.
 *
 * @module
 */
export { type ArtifactsConfig, ArtifactsConfigSchema } from "./config.ts";
export {
  ArtifactStore,
  type ArtifactStoreOptions,
  type BlobInfo,
  type BlobMeta,
  type GcResult,
  HOLDER_PATTERN,
  type OpenedBlob,
  type PutOptions,
  type PutResult,
  SHA256_PATTERN,
} from "./store.ts";
export type { BlobRow, Pin } from "./index.ts";
export { type ByteRange, parseRange } from "./range.ts";
export {
  type ArtifactRoutes,
  artifactRoutes,
  EXPIRES_HEADER,
  NAME_HEADER,
  SHA256_HEADER,
  WAIT_HEADER,
} from "./http.ts";
export {
  ArtifactMesh,
  type ArtifactMeshOptions,
  type ArtifactPeer,
  type Attempt,
  type FetchResult,
  type Holder,
  type ReplicateResult,
} from "./mesh.ts";
export { type AgentFileRef, AgentFiles } from "./agent_files.ts";
export { artifactMethods } from "./methods.ts";
export {
  downloadArtifact,
  type TransferTarget,
  uploadArtifact,
  type UploadOptions,
} from "./client.ts";
