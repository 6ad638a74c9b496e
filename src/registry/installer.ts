/** What the index says an archive holds: an unpacked plugin must be exactly this. */
export interface ExpectedPlugin {
  /** The plugin's name. */
  name: string;
  /** Its version. */
  version: string;
  /** Its kind. */
  kind: "agent" | "capability";
}

/**
 * Puts unpacked plugins of one kind where that kind's runtime finds them.
 * The registry service downloads, verifies and unpacks an archive into a
 * staging dir, then hands the dir to the installer of its kind.
 *
 * An installer's `install` is all or nothing: when it throws, the version
 * installed before (if any) is still in place and working.
 */
export interface PluginInstaller {
  /**
   * Install the unpacked plugin in `dir` (the installer may move or consume
   * the dir). Checks that it is the plugin `expected` names.
   */
  install(dir: string, expected: ExpectedPlugin): Promise<{ name: string; version: string }>;
  /** Uninstall a plugin (one version of it, for kinds that keep several). Missing is not an error. */
  remove(name: string, version?: string): Promise<void>;
  /** Whether this version is installed (a record whose plugin was removed by other means is stale). */
  has(name: string, version: string): Promise<boolean>;
}
