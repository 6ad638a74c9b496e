import { createHash } from "node:crypto";
import { RoamError } from "../errors/mod.ts";
import { constant, Entry } from "./entry.ts";
import { ROAM_NAMESPACE, uuidv5 } from "./identity.ts";
import type { Memory } from "./memory.ts";
import type { JsonValue } from "./value.ts";

/** Keys never exported: machine-local paths and anything that looks like a secret. */
const DROPPED = new Set(["dataDir", "secretFile", "secretsFile"]);
const SECRET_KEY = /secret|password|passwd|token|credential|private.?key|access.?key/i;

/** What a configuration snapshot holds. */
export interface ConfigSnapshot {
  /** The host configuration, without secrets or machine-local paths. */
  config: Record<string, JsonValue>;
  /** Installed agent plugins: name, version, sha256, manifest and grants. */
  plugins: JsonValue;
  /**
   * The code of each installed agent plugin by its sha256, so that a host
   * started from the snapshot elsewhere can install them again. Data, never
   * evaluated here: the host checks each bundle's sha256 when it installs it.
   */
  bundles?: Record<string, string>;
}

/** The default nickname of a host's configuration snapshot. */
export function configNickname(hostName: string): string {
  return `host-config:${hostName}`;
}

/**
 * A configuration with machine-local paths and secret-looking keys removed,
 * and URLs stripped of user info, as plain JSON.
 */
export function redactConfig(config: unknown): Record<string, JsonValue> {
  const walk = (value: unknown): JsonValue | undefined => {
    if (value === undefined || typeof value === "function") return undefined;
    if (Array.isArray(value)) return value.map((v) => walk(v) ?? null);
    if (value && typeof value === "object") {
      const out: Record<string, JsonValue> = {};
      for (const [k, v] of Object.entries(value)) {
        if (DROPPED.has(k) || SECRET_KEY.test(k)) continue;
        const w = walk(v);
        if (w !== undefined) out[k] = w;
      }
      return out;
    }
    if (typeof value === "string" && /^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(value)) {
      try {
        const url = new URL(value);
        url.username = "";
        url.password = "";
        return url.toString();
      } catch { /* not a URL after all */ }
    }
    if (typeof value === "number" && !Number.isFinite(value)) return null;
    return value as JsonValue;
  };
  return walk(config) as Record<string, JsonValue>;
}

/**
 * Store a configuration snapshot as a manifest `{ config, plugins }` with a
 * nickname. Entries are content-addressed, so exporting an unchanged
 * configuration again returns the same manifest.
 */
export async function exportConfig(
  memory: Memory,
  snapshot: ConfigSnapshot,
  options: { nickname: string; pool?: string },
): Promise<{ id: string; nickname: string; pool: string }> {
  const config = contentEntry("config", redactConfig(snapshot.config));
  const plugins = contentEntry("plugins", snapshot.plugins);
  const bundles = Object.fromEntries(
    Object.entries(snapshot.bundles ?? {}).map(([sha256, code]) => [
      sha256,
      contentEntry("bundle", code),
    ]),
  );
  const manifest = await memory.putManifest({ config, plugins, bundles }, options);
  return { id: manifest.id, nickname: options.nickname, pool: memory.pool(options.pool).name };
}

/** Read a configuration snapshot back by the nickname it was exported under. */
export async function importConfig(
  memory: Memory,
  options: { nickname: string; pool?: string },
): Promise<ConfigSnapshot & { id: string }> {
  const manifest = await memory.getManifest({ nickname: options.nickname }, { pool: options.pool });
  const tree = await memory.recall(manifest, { pool: options.pool });
  const config = tree.config as Entry | undefined;
  const plugins = tree.plugins as Entry | undefined;
  const value = config?.value;
  if (!value || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) {
    throw new RoamError(
      "invalid_input",
      `manifest "${options.nickname}" is not a configuration snapshot (no config object); export one with 'roam config export'`,
      { nickname: options.nickname },
    );
  }
  const bundles: Record<string, string> = {};
  const bundleTree = tree.bundles;
  if (bundleTree && typeof bundleTree === "object" && !(bundleTree instanceof Entry)) {
    for (const [sha256, entry] of Object.entries(bundleTree as Record<string, unknown>)) {
      const code = entry instanceof Entry ? entry.value : undefined;
      if (typeof code === "string") bundles[sha256] = code;
    }
  }
  return {
    id: manifest.id,
    config: value as Record<string, JsonValue>,
    plugins: (plugins?.value ?? null) as JsonValue,
    bundles,
  };
}

function contentEntry(kind: string, value: unknown): Entry {
  const digest = createHash("sha256").update(JSON.stringify(value)).digest("hex");
  return constant(value, { uuid: uuidv5(ROAM_NAMESPACE, `${kind}:${digest}`) });
}
