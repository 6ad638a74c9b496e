import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";
import { MAX_BUNDLE_BYTES, type PluginStore, readManifest } from "../plugins/mod.ts";
import type { ExpectedPlugin, PluginInstaller } from "./installer.ts";

/**
 * Installs agent plugins from a registry the way `roam plugin add` does:
 * the archive holds a packed plugin (`plugin.json` naming `bundle.cjs` and
 * its sha256), which goes into the host's {@linkcode PluginStore}.
 */
export class AgentInstaller implements PluginInstaller {
  readonly #store: PluginStore;

  /** Install into `store`. */
  constructor(store: PluginStore) {
    this.#store = store;
  }

  /** Add the packed plugin in `dir` to the store. */
  async install(dir: string, expected: ExpectedPlugin): Promise<{ name: string; version: string }> {
    const { manifest, path } = await readManifest(dir);
    const label = `${expected.name} ${expected.version}`;
    if (
      manifest.name !== expected.name || manifest.version !== expected.version ||
      manifest.kind !== "agent"
    ) {
      throw new RoamError(
        "invalid_input",
        `the archive of ${label} holds ${manifest.kind} plugin ${manifest.name} ${manifest.version}, not what the index says; it was not installed`,
        {
          expected,
          found: { name: manifest.name, version: manifest.version, kind: manifest.kind },
        },
      );
    }
    if (!manifest.bundle) {
      throw new RoamError(
        "invalid_input",
        `the archive of ${label} holds an unpacked plugin (${path} names no bundle); registry archives of agent plugins hold the output of 'roam plugin pack'`,
        { name: manifest.name },
      );
    }
    const bundlePath = join(dir, manifest.bundle.file);
    let size: number;
    try {
      size = (await Deno.stat(bundlePath)).size;
    } catch {
      throw new RoamError(
        "invalid_input",
        `the archive of ${label} has no ${manifest.bundle.file}, which its plugin.json names`,
        { name: manifest.name },
      );
    }
    if (size > MAX_BUNDLE_BYTES) {
      throw new RoamError(
        "too_large",
        `the bundle of ${label} is ${size} bytes; at most ${MAX_BUNDLE_BYTES} are allowed`,
        {
          size,
          limit: MAX_BUNDLE_BYTES,
        },
      );
    }
    const code = await Deno.readTextFile(bundlePath);
    const added = await this.#store.add({ manifest, code }, {
      source: `plugin.json in the archive of ${label}`,
    });
    return { name: added.name, version: added.version };
  }

  /** Remove one version (or every version) from the store. */
  async remove(name: string, version?: string): Promise<void> {
    try {
      await this.#store.remove(name, version);
    } catch (error) {
      if (error instanceof RoamError && error.code === "not_found") return;
      throw error;
    }
  }

  /** Whether the store holds this version. */
  has(name: string, version: string): Promise<boolean> {
    return Promise.resolve(this.#store.get(name, version) !== undefined);
  }
}
