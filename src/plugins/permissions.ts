import { isAbsolute, resolve, sep } from "node:path";
import { z } from "zod";

/**
 * Lists of what an agent may touch: file paths to read and write, network
 * hosts (`host` or `host:port`), and environment variable names. The same
 * shape serves a plugin's request and the operator's grant.
 */
export interface PermissionLists {
  /** Absolute paths (and everything under them) the agent may read. */
  read: string[];
  /** Absolute paths (and everything under them) the agent may write. */
  write: string[];
  /** `host` (any port) or `host:port`. */
  net: string[];
  /** Environment variable names. */
  env: string[];
}

/** What the operator has granted a plugin, by name; every list present, possibly empty. */
export type PluginGrants = PermissionLists;

/**
 * Worker permissions for an agent: every one of Deno's eight permission keys
 * is set, because a missing key (or an empty object) means "inherit the
 * host's" in Deno (denoland/deno#26057). Lists are never empty: nothing
 * allowed is `false`.
 */
export interface AgentPermissions {
  /** Paths the agent may read, or `false`. */
  read: string[] | false;
  /** Paths the agent may write, or `false`. */
  write: string[] | false;
  /** Hosts the agent may reach, or `false`. */
  net: string[] | false;
  /** Environment variables the agent may read, or `false`. */
  env: string[] | false;
  /** Never granted to agents. */
  run: false;
  /** Never granted to agents. */
  ffi: false;
  /** Never granted to agents. */
  sys: false;
  /**
   * Never granted: agent code arrives as one bundle and is never imported
   * (Deno does not enforce this inside workers, #29503, so it is no defence
   * on its own).
   */
  import: false;
}

/** The permission kinds a plugin may request and an operator may grant. */
export const GRANTABLE = ["read", "write", "net", "env"] as const;

/** Permission kinds that agents never get, whatever a manifest or an operator says. */
export const NEVER_GRANTED = ["run", "ffi", "sys", "import"] as const;

/** Most entries in one permission list. */
export const MAX_PERMISSION_ENTRIES = 64;

const HOST_LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOSTNAME = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);
const IPV4 = /^(\d{1,3})(\.\d{1,3}){3}$/;

/**
 * Split a net entry into host and port. Accepts `host`, `host:port`,
 * `[v6]` and `[v6]:port`, with a hostname or an IP address as the host.
 * Returns undefined when the entry is not one of those.
 */
export function parseNetEntry(entry: string): { host: string; port?: number } | undefined {
  let host: string;
  let port: string | undefined;
  const bracketed = entry.match(/^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/);
  if (bracketed) {
    [, host, port] = bracketed;
    try {
      new URL(`http://[${host}]/`);
    } catch {
      return undefined;
    }
    host = `[${host.toLowerCase()}]`;
  } else {
    const parts = entry.split(":");
    if (parts.length > 2) return undefined;
    [host, port] = parts;
    host = host.toLowerCase();
    if (IPV4.test(host)) {
      if (!host.split(".").every((n) => Number(n) <= 255)) return undefined;
    } else if (host.length > 253 || !HOSTNAME.test(host)) {
      return undefined;
    }
  }
  if (port === undefined) return { host };
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return undefined;
  return { host, port: Number(port) };
}

/** A path made absolute and normalized, without a trailing separator (except the root). */
export function normalizePath(path: string): string {
  const abs = resolve(path);
  return abs.length > 1 && abs.endsWith(sep) ? abs.slice(0, -1) : abs;
}

/** Whether `inner` is `outer` or lies under it (both normalized). */
export function pathWithin(inner: string, outer: string): boolean {
  if (inner === outer) return true;
  const prefix = outer.endsWith(sep) ? outer : outer + sep;
  return inner.startsWith(prefix);
}

/** One path entry: absolute, normalized. */
export const PathEntrySchema = z.string().min(1).max(4096)
  .refine((p) => !p.includes("\0"), { message: "a path must not contain NUL" })
  .refine((p) => isAbsolute(p), { message: "must be an absolute path, like /data/models" })
  .transform(normalizePath);

/** One net entry: `host` or `host:port`, lowercased. */
export const NetEntrySchema = z.string().min(1).max(300)
  .refine((v) => parseNetEntry(v) !== undefined, {
    message: "must be a host or host:port, like example.org or 10.0.0.5:8080",
  })
  .transform((v) => {
    const { host, port } = parseNetEntry(v)!;
    return port === undefined ? host : `${host}:${port}`;
  });

/** One environment variable name. */
export const EnvNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,255}$/, {
  message: "must be an environment variable name, like HOME or MODEL_DIR",
});

const list = <T extends z.ZodType<string, string>>(item: T) =>
  z.array(item).max(MAX_PERMISSION_ENTRIES).transform((v) => [...new Set(v)].sort());

/** Schemas of each permission list; entries are validated, normalized, deduplicated and sorted. */
export const PermissionListSchemas = {
  read: list(PathEntrySchema),
  write: list(PathEntrySchema),
  net: list(NetEntrySchema),
  env: list(EnvNameSchema),
} as const;

/**
 * The permissions a plugin asks for in its manifest: only `read`, `write`,
 * `net` and `env`; asking for `run`, `ffi`, `sys` or `import` is refused
 * with an error that names the key. Every list is present in the output.
 */
export const RequestedPermissionsSchema = z.object({
  read: PermissionListSchemas.read.optional(),
  write: PermissionListSchemas.write.optional(),
  net: PermissionListSchemas.net.optional(),
  env: PermissionListSchemas.env.optional(),
}).catchall(z.unknown()).superRefine((value, ctx) => {
  for (const key of Object.keys(value)) {
    if ((GRANTABLE as readonly string[]).includes(key)) continue;
    ctx.addIssue({
      code: "custom",
      path: [key],
      message: (NEVER_GRANTED as readonly string[]).includes(key)
        ? `agents are never granted '${key}'; a plugin may request only read, write, net and env`
        : `unknown permission '${key}'; a plugin may request only read, write, net and env`,
    });
  }
}).transform((v): PermissionLists => ({
  read: v.read ?? [],
  write: v.write ?? [],
  net: v.net ?? [],
  env: v.env ?? [],
}));

/** Options for {@linkcode effectivePermissions}: paths the runtime adds for the agent itself. */
export interface ExtraPaths {
  /** Paths the agent may always read (its scratch and storage dirs). */
  read?: string[];
  /** Paths the agent may always write (its scratch and storage dirs). */
  write?: string[];
}

/**
 * The worker permissions of an agent of a plugin: exactly the operator's
 * grants intersected with what the plugin requested, plus the runtime's
 * `extra` paths.
 *
 * - A grant the plugin did not request is ignored; a request not granted is denied.
 * - Paths: a granted path equal to or inside a requested path counts as
 *   itself; a requested path inside a granted one counts as the requested
 *   (narrower) path. Paths are made absolute and lose any trailing slash.
 * - Net: `host` matches every port of that host; `host:port` only that port.
 *   The narrower of the two is kept.
 * - Env: exact names.
 * - `run`, `ffi`, `sys` and `import` are always `false`, and every key is
 *   present, since Deno inherits the host's permission for a missing key.
 *
 * @example
 * const perms = effectivePermissions(
 *   { read: ["/data"], net: ["example.org"] },
 *   { read: ["/data/models", "/etc"], net: ["example.org:443"] },
 *   { read: ["/var/roam/agents/a1"], write: ["/var/roam/agents/a1"] },
 * );
 * // { read: ["/data/models", "/var/roam/agents/a1"], write: ["/var/roam/agents/a1"],
 * //   net: ["example.org:443"], env: false, run: false, ffi: false, sys: false, import: false }
 * new Worker(url, { type: "module", deno: { permissions: perms } });
 */
export function effectivePermissions(
  requested: Partial<PermissionLists>,
  granted: Partial<PermissionLists>,
  extra: ExtraPaths = {},
): AgentPermissions {
  const read = [...intersectPaths(requested.read, granted.read), ...paths(extra.read)];
  const write = [...intersectPaths(requested.write, granted.write), ...paths(extra.write)];
  const env = (requested.env ?? []).filter((name) => (granted.env ?? []).includes(name));
  return {
    read: orFalse(minimalPaths(read)),
    write: orFalse(minimalPaths(write)),
    net: orFalse(intersectNet(requested.net, granted.net)),
    env: orFalse(env),
    run: false,
    ffi: false,
    sys: false,
    import: false,
  };
}

function orFalse(list: string[]): string[] | false {
  return list.length ? [...new Set(list)].sort() : false;
}

function paths(list: readonly string[] | undefined): string[] {
  return (list ?? []).map(normalizePath);
}

function intersectPaths(
  requested: readonly string[] | undefined,
  granted: readonly string[] | undefined,
): string[] {
  const out: string[] = [];
  for (const g of paths(granted)) {
    for (const r of paths(requested)) {
      if (pathWithin(g, r)) out.push(g);
      else if (pathWithin(r, g)) out.push(r);
    }
  }
  return out;
}

/** Drop paths that lie under another path of the list: they add nothing. */
function minimalPaths(list: string[]): string[] {
  const unique = [...new Set(list)];
  return unique.filter((p) => !unique.some((q) => q !== p && pathWithin(p, q)));
}

function intersectNet(
  requested: readonly string[] | undefined,
  granted: readonly string[] | undefined,
): string[] {
  const parse = (list: readonly string[] | undefined) =>
    (list ?? []).flatMap((entry) => {
      const parsed = parseNetEntry(entry);
      return parsed ? [parsed] : [];
    });
  const show = (e: { host: string; port?: number }) =>
    e.port === undefined ? e.host : `${e.host}:${e.port}`;
  const out = new Set<string>();
  for (const g of parse(granted)) {
    for (const r of parse(requested)) {
      if (g.host !== r.host) continue;
      if (r.port === undefined) out.add(show(g));
      else if (g.port === undefined || g.port === r.port) out.add(show(r));
    }
  }
  // A bare host already covers every host:port entry of the same host.
  const hosts = new Set([...out].filter((e) => parseNetEntry(e)!.port === undefined));
  return [...out].filter((e) => {
    const { host, port } = parseNetEntry(e)!;
    return port === undefined || !hosts.has(host);
  });
}
