import { z } from "zod";
import { RpcHttpClient } from "../rpc/mod.ts";
import type { ConfigSnapshot } from "./config_snapshot.ts";

/** A plugin as a configuration snapshot records it. */
const SnapshotPluginSchema = z.object({
  name: z.string(),
  version: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  manifest: z.record(z.string(), z.unknown()),
  grants: z.object({
    read: z.array(z.string()).optional(),
    write: z.array(z.string()).optional(),
    net: z.array(z.string()).optional(),
    env: z.array(z.string()).optional(),
  }).passthrough().optional(),
});

/** What {@linkcode restorePlugins} did. */
export interface RestoreReport {
  /** `name@version` of each plugin installed from the snapshot. */
  installed: string[];
  /** Plugins this host had already (by sha256). */
  present: string[];
  /** Plugins that could not be installed, with why. */
  failed: { plugin: string; reason: string }[];
}

/**
 * Install on the host at `url` the agent plugins a configuration snapshot
 * recorded, from the code it carries, and give each the grants it had
 * (replacing the host's grants for that plugin). A plugin the host has
 * already (same sha256) keeps its code; a plugin that cannot be installed is
 * reported and the rest go on. The host checks each bundle's sha256 against
 * its manifest as for any `plugin.add`.
 */
export async function restorePlugins(
  url: string,
  token: string,
  snapshot: Pick<ConfigSnapshot, "plugins" | "bundles">,
): Promise<RestoreReport> {
  const report: RestoreReport = { installed: [], present: [], failed: [] };
  const recorded = z.array(z.unknown()).safeParse(snapshot.plugins);
  if (!recorded.success) return report;
  const client = new RpcHttpClient({ url, token, timeoutMs: 60_000 });
  const have = new Set(
    ((await client.call("plugin.list", {})) as { plugins: { sha256: string }[] }).plugins
      .map((p) => p.sha256),
  );
  const granted = new Set<string>();
  for (const raw of recorded.data) {
    const parsed = SnapshotPluginSchema.safeParse(raw);
    if (!parsed.success) {
      report.failed.push({
        plugin: JSON.stringify(raw).slice(0, 80),
        reason: "not a plugin record",
      });
      continue;
    }
    const p = parsed.data;
    const label = `${p.name}@${p.version}`;
    try {
      if (have.has(p.sha256)) report.present.push(label);
      else {
        const code = snapshot.bundles?.[p.sha256];
        if (code === undefined) throw new Error("the snapshot carries no code for it");
        await client.call("plugin.add", { manifest: p.manifest, code });
        report.installed.push(label);
      }
      if (p.grants && !granted.has(p.name)) {
        granted.add(p.name);
        const { read, write, net, env } = p.grants;
        await client.call("plugin.grant", { name: p.name, read, write, net, env, replace: true });
      }
    } catch (error) {
      report.failed.push({ plugin: label, reason: (error as Error).message });
    }
  }
  return report;
}
