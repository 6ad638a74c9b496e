/**
 * The roam host: configuration, binding (loopback, explicit, or `auto` with
 * re-binding when addresses change), the HTTP and WebSocket surface, the
 * host's own methods, and clean shutdown.
 *
 * @module
 */
export { type Host, startHost, type StartOptions } from "./host.ts";
export {
  type HostConfig,
  type HostConfigInput,
  HostConfigSchema,
  isIpAddress,
  LimitsSchema,
  resolveHostConfig,
} from "./config.ts";
export {
  type BindMode,
  type InterfaceAddress,
  type InterfaceSource,
  lanAddresses,
  resolveAddresses,
  systemInterfaces,
} from "./bind.ts";
export { runUntilSignal } from "./shutdown.ts";
