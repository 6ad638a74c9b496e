/**
 * Agent plugins: the `plugin.json` manifest, packing a plugin into one
 * verified CommonJS bundle, the host's store of installed plugins (kept by
 * sha256) with the operator's grants, the permissions an agent of a plugin
 * runs with, and the `plugin.*` RPC methods.
 *
 * @module
 */
export {
  BUNDLE_FILE,
  BundleRefSchema,
  compareVersions,
  MANIFEST_FILE,
  type ManifestInput,
  ManifestSchema,
  MAX_BUNDLE_BYTES,
  type PackedManifest,
  parseManifest,
  type PluginManifest,
  PluginNameSchema,
  PluginVersionSchema,
  readManifest,
} from "./manifest.ts";
export {
  type AgentPermissions,
  effectivePermissions,
  type ExtraPaths,
  GRANTABLE,
  NEVER_GRANTED,
  normalizePath,
  type PermissionLists,
  type PluginGrants,
} from "./permissions.ts";
export {
  BUNDLE_EXTERNALS,
  findDeno,
  type PackOptions,
  packPlugin,
  type PackResult,
} from "./pack.ts";
export {
  type AddedPlugin,
  type AddOptions,
  type GrantOptions,
  type InstalledPlugin,
  PluginStore,
  type PluginStoreOptions,
  type RemoveResult,
} from "./store.ts";
export { pluginMethods } from "./methods.ts";
