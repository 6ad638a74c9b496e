/**
 * roam for scripts: connect to a host and call it, typed from the same
 * contracts the host serves.
 *
 * @example
 * ```ts
 * import { connect } from "./mod.ts";
 * const mesh = await connect(); // the local host, with a token from its secret
 * const { name, urls } = await mesh.host.info();
 * console.log(name, urls);
 * await mesh.close();
 * ```
 *
 * Capabilities (heavy tools on the host), through its job queue:
 * ```ts
 * import { capability, connect } from "./mod.ts";
 * const mesh = await connect();
 * console.log(await capability(mesh, "echo-py").call("echo", { text: "hi" }));
 * const job = await mesh.job.submit({ capability: "echo-py", method: "echo", priority: 9 });
 * console.log(await mesh.job.wait({ id: job.id, timeoutMs: 60_000 }));
 * ```
 *
 * @module
 */
export {
  connect,
  type ConnectOptions,
  type Namespaces,
  type Roam,
  RoamClient,
  type SubscribeOptions,
  type Subscription,
} from "./src/client/mod.ts";
export {
  API,
  type Api,
  type MethodName,
  type ParamsOf,
  type ResultOf,
  type RoamEvent,
} from "./src/api/mod.ts";
export { ERROR_CODES, type ErrorCode, isRoamError, RoamError } from "./src/errors/mod.ts";
export { ROAM_VERSION } from "./src/version.ts";
// memory: entries, nicknames, manifests, pools and guarantee, for scripts (openMemory talks RPC to a host).
export {
  ChainPool,
  constant,
  copyPool,
  type CopyProgress,
  Entry,
  type EntryKind,
  type EntryRef,
  type EntryTree,
  type EntryValue,
  globalId,
  guarantee,
  type JsonValue,
  type Manifest,
  manifestUuid,
  Memory,
  MemoryPool,
  nicknameUuid,
  openMemory,
  parseGlobalId,
  type Pool,
  type RecalledTree,
  RemoteMemory,
  ROAM_NAMESPACE,
  S3Pool,
  track,
  uuidv5,
  variable,
} from "./src/memory/mod.ts";
// jobs (queue): capabilities for scripts.
export {
  capability,
  type CapabilityHandle,
  type ScriptCallOptions,
} from "./src/capabilities/jobs.ts";
