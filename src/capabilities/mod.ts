/**
 * Capabilities: heavy tools (GPU models in Python, Deno tools) installed as
 * plugins, each run in its own environment (conda, venv, system Python or
 * Deno) as supervised worker processes behind one HTTP/JSON protocol.
 *
 * The runtime half (this helper): manifests, environments, worker processes,
 * the diagnostics store and {@linkcode CapabilityHost}, which implements the
 * {@linkcode CapabilityRuntime} seam. The job queue half builds on that seam.
 *
 * @module
 */
export type {
  CallProgress,
  CapabilityDescriptor,
  CapabilityInstance,
  CapabilityRuntime,
  DeclaredResources,
  ErrorCategory,
  ExecuteOptions,
  MeasuredUse,
} from "./contract.ts";
export { capabilityError, categoryOf, ERROR_CATEGORIES } from "./errors.ts";
export {
  type CapabilityManifest,
  CapabilityManifestSchema,
  DenoPermissionsSchema,
  EnvironmentSchema,
  type EnvironmentSpec,
  parseCapabilityManifest,
  validateCapabilityDir,
} from "./manifest.ts";
export { CapabilityCatalog, type InstalledCapability } from "./catalog.ts";
export {
  DEFAULT_RETENTION,
  type DiagnosticsFile,
  type DiagnosticsRetention,
  DiagnosticsStore,
} from "./diagnostics.ts";
export { type CondaTool, findCondaTool } from "./environment.ts";
export { type InstanceTimings, WorkerInstance } from "./instance.ts";
export { PORT_LINE, PROTOCOL_VERSION } from "./protocol.ts";
export {
  canonicalJson,
  CapabilityHost,
  type CapabilityHostOptions,
  DEFAULT_TIMINGS,
} from "./runtime.ts";
export { capabilityMethods } from "./methods.ts";
// jobs (queue helper): begin
export * from "./jobs.ts";
// jobs (queue helper): end
