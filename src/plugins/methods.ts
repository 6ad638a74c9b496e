import {
  pluginAdd,
  pluginGrant,
  pluginInfo,
  pluginList,
  pluginRemove,
  pluginRevoke,
} from "../api/mod.ts";
import { RoamError } from "../errors/mod.ts";
import { implement, type MethodImpl } from "../rpc/mod.ts";
import {
  effectivePermissions,
  GRANTABLE,
  type PermissionLists,
  type PluginGrants,
} from "./permissions.ts";
import type { InstalledPlugin, PluginStore } from "./store.ts";

/** The `plugin.*` methods, served from `store`. */
export function pluginMethods(store: PluginStore): MethodImpl[] {
  const summary = (p: InstalledPlugin) => ({
    name: p.name,
    version: p.version,
    sha256: p.sha256,
    size: p.size,
    description: p.manifest.description,
    requested: p.manifest.permissions,
    granted: store.grantsFor(p.name),
    installedAt: p.installedAt,
  });
  return [
    implement(pluginAdd, async ({ manifest, code }) => {
      const added = await store.add({ manifest, code }, {
        source: "the manifest sent to plugin.add",
      });
      return {
        name: added.name,
        version: added.version,
        sha256: added.sha256,
        size: added.size,
        installed: added.installed,
      };
    }),
    implement(pluginList, () => ({ plugins: store.list().map(summary) })),
    implement(pluginInfo, ({ name, version }) => {
      const plugin = store.get(name, version);
      if (!plugin) throw notInstalled(store, name, version);
      const granted = store.grantsFor(name);
      const { manifest } = plugin;
      return {
        ...summary(plugin),
        kind: manifest.kind,
        entry: manifest.entry,
        versions: store.list().filter((p) => p.name === name).map((p) => p.version),
        effective: asLists(effectivePermissions(manifest.permissions, granted)),
        resources: manifest.resources,
        isolation: manifest.isolation,
        manifest,
      };
    }),
    implement(pluginGrant, ({ name, replace, ...lists }) => {
      const grants = store.grant(name, lists, { replace });
      const versions = store.list().filter((p) => p.name === name);
      return { name, grants, unrequested: unrequested(grants, versions) };
    }),
    implement(pluginRevoke, ({ name }) => ({ name, revoked: store.revoke(name) })),
    implement(pluginRemove, async ({ name, version }) => {
      const { removed, grantsDropped } = await store.remove(name, version);
      return {
        removed: removed.map((p) => ({ name: p.name, version: p.version, sha256: p.sha256 })),
        grantsDropped,
      };
    }),
  ];
}

function notInstalled(store: PluginStore, name: string, version?: string): RoamError {
  if (version !== undefined && store.get(name)) {
    return new RoamError(
      "not_found",
      `${name} ${version} is not installed; 'roam plugin info ${name}' shows its versions`,
      { name, version },
    );
  }
  return new RoamError(
    "not_found",
    `no plugin named ${name} is installed; 'roam plugin list' shows the installed ones`,
    { name },
  );
}

function asLists(perms: ReturnType<typeof effectivePermissions>): PermissionLists {
  return {
    read: perms.read || [],
    write: perms.write || [],
    net: perms.net || [],
    env: perms.env || [],
  };
}

/** The grant entries that give no installed version anything. */
function unrequested(grants: PluginGrants, versions: InstalledPlugin[]): PermissionLists {
  const out: PermissionLists = { read: [], write: [], net: [], env: [] };
  for (const kind of GRANTABLE) {
    out[kind] = grants[kind].filter((entry) =>
      !versions.some((p) => effectivePermissions(p.manifest.permissions, { [kind]: [entry] })[kind])
    );
  }
  return out;
}
