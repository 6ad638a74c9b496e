import { RoamError } from "../errors/mod.ts";
import {
  effectivePermissions,
  type InstalledPlugin,
  normalizePath,
  type PluginStore,
} from "../plugins/mod.ts";
import type { AgentPlugin, PluginSource } from "./manager.ts";

/**
 * The host's plugin store as the agent runtime sees it. Grants that would let
 * an agent read or write roam's own data dir (its secret, its database) are
 * refused: agent code never sees the mesh secret or a host token.
 */
export function pluginSource(store: PluginStore, dataDir: string): PluginSource {
  const data = normalizePath(dataDir);
  const agentsRoot = normalizePath(`${dataDir}/agents`);
  return {
    get: (name, version) => store.get(name, version),
    readCode: (plugin) => store.readCode(plugin as InstalledPlugin),
    permissionsFor(plugin: AgentPlugin, own) {
      const grants = store.grantsFor(plugin.name);
      for (const path of [...grants.read, ...grants.write]) {
        const p = normalizePath(path);
        const coversData = data === p || data.startsWith(p.endsWith("/") ? p : `${p}/`);
        const insideData = p.startsWith(`${data}/`) && !p.startsWith(`${agentsRoot}/`);
        if (coversData || insideData) {
          throw new RoamError(
            "forbidden",
            `plugin ${plugin.name} is granted ${path}, which holds roam's data dir (its secret and state); grant a narrower path with 'roam plugin grant'`,
            { plugin: plugin.name, path },
          );
        }
      }
      return effectivePermissions(
        plugin.manifest.permissions ?? {},
        grants,
        own,
      ) as Deno.PermissionOptionsObject;
    },
  };
}
