/**
 * Clients of a roam host: finding the local host and its secret, and a
 * client typed from the API contracts.
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
} from "./client.ts";
export { LOCAL_TOKEN_TTL_MS, resolveTarget, type Target, type TargetOptions } from "./target.ts";
export { DEFAULT_PORT, DEFAULT_URL, defaultDataDir } from "./defaults.ts";
export {
  claimDataDir,
  processStart,
  readRuntimeInfo,
  removeRuntimeInfo,
  runtimeFilePath,
  type RuntimeInfo,
  RuntimeInfoSchema,
  writeRuntimeInfo,
} from "./runtime_file.ts";
