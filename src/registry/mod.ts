/**
 * The plugin registry: the `roam-registry/1` index format (optionally signed
 * with ed25519, the publisher key pinned per registry on first use), safe
 * `.tar.gz` archives, the host's registry client that resolves versions and
 * installs agent and capability plugins all or nothing, the `registry.*` RPC
 * methods, and the builder of an index from a dir of plugins.
 *
 * @module
 */
export {
  ArchiveRefSchema,
  INDEX_FORMAT,
  type IndexPlugin,
  IndexPluginSchema,
  type IndexVersion,
  IndexVersionSchema,
  MAX_INDEX_PLUGINS,
  MAX_PLUGIN_VERSIONS,
  parseIndex,
  type RegistryIndex,
  type RegistryIndexInput,
  RegistryIndexSchema,
} from "./format.ts";
export {
  generateSigningKey,
  MAX_SIGNATURE_BYTES,
  PublisherKeySchema,
  SIGNATURE_FORMAT,
  type SignatureFile,
  SignatureFileSchema,
  signIndex,
  verifyIndex,
} from "./signature.ts";
export {
  type ArchiveFile,
  createArchive,
  DEFAULT_EXTRACT_LIMITS,
  extractArchive,
  type ExtractLimits,
} from "./archive.ts";
export { type RegistryConfig, RegistryConfigSchema } from "./config.ts";
export { checkRange, pickVersion, runsOn } from "./resolve.ts";
export type { ExpectedPlugin, PluginInstaller } from "./installer.ts";
export { AgentInstaller } from "./agent_installer.ts";
export {
  CapabilityInstaller,
  type CapabilityInstallerOptions,
  type CapabilityManifest,
  CapabilityManifestSchema,
  readCapabilityManifest,
} from "./capability_installer.ts";
export type { InstallRecord } from "./records.ts";
export type { Progress } from "./progress.ts";
export { type LoadedIndex, loadIndex, type LoadOptions, resolveIndexUrl } from "./source.ts";
export { KeyPins } from "./keys.ts";
export {
  type InstallOptions,
  type InstallResult,
  type RegistryOptions,
  RegistryService,
  type RegistryServiceOptions,
  type UpdateResult,
} from "./registry.ts";
export { registryMethods } from "./methods.ts";
export { type BuildOptions, buildRegistry, type BuildResult } from "./build.ts";
