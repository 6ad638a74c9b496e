import type { Command } from "commander";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ResultOf } from "../../api/mod.ts";
import type { Roam } from "../../client/mod.ts";
import { RoamError } from "../../errors/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatPairs, formatTable } from "../output.ts";

/** A plugin installed from a registry, as `registry.installed` lists it. */
export type InstallRecordView = ResultOf<"registry.installed">["plugins"][number];

const REGISTRY_HELP =
  "the registry: a path, or an http(s) or file URL, of an index.json or its dir (default $ROAM_REGISTRY, else the host's)";
const ACCEPT_HELP =
  "take an index signed with another key than the one this host pinned for the registry (or an unsigned one), and pin the new key";
const INSTALL_TIMEOUT_MS = 61 * 60_000;

/**
 * `roam plugin search | install | update`: find plugins in a registry and
 * install them on the host (the host downloads and installs; a CLI talking
 * to a remote host installs there).
 */
export function registrySubcommands(plugin: Command, ctx: CommandContext): void {
  plugin.command("search")
    .description("list the plugins a registry offers whose name or description holds TEXT")
    .argument("[text]", "what to look for (default: everything)")
    .option("--registry <url>", REGISTRY_HELP)
    .option("--accept-new-key", ACCEPT_HELP)
    .addHelpText(
      "after",
      `
Examples:
  roam plugin search --registry ./registry
  roam plugin search matmul --registry https://example.org/roam/index.json`,
    )
    .action(async (text: string | undefined, opts: RegistryFlags) => {
      const mesh = await client(ctx);
      const found = await mesh.registry.search({ text, ...registryParams(opts) });
      if (ctx.global().json) return printJson(ctx, found);
      printOffer(ctx, found.plugins, found.registry);
    });

  plugin.command("install")
    .description(
      "install a plugin from a registry on the host: the newest version in RANGE that runs there",
    )
    .argument("<spec>", "NAME or NAME@RANGE (a version like 1.2.0, or a range like ^1.2 or ~1.4)")
    .option("--registry <url>", REGISTRY_HELP)
    .option("--accept-new-key", ACCEPT_HELP)
    .addHelpText(
      "after",
      `
The archive's size and sha256 are checked against the index as it arrives;
a signed index must match its signature and the key pinned for the registry.
The installed version is replaced only once the new one is in place.

Examples:
  roam plugin install hello --registry ./registry
  roam plugin install torch-matmul@^0.1 --registry https://example.org/roam/
  ROAM_REGISTRY=https://example.org/roam/ roam plugin install hello@0.1.0`,
    )
    .action(async (spec: string, opts: RegistryFlags) => {
      const { name, range } = parseInstallSpec(spec);
      const mesh = await client(ctx);
      const result = await withProgress(ctx, mesh, (progressId) =>
        mesh.registry.install(
          { name, range, progressId, ...registryParams(opts) },
          { timeoutMs: INSTALL_TIMEOUT_MS },
        ));
      if (ctx.global().json) return printJson(ctx, result);
      const label = `${result.kind} plugin ${result.name} ${result.version}`;
      ctx.io.out(
        !result.installed
          ? `${label} is installed already; nothing changed`
          : result.previous && result.previous !== result.version
          ? `installed ${label} (was ${result.previous}) from ${result.registry}`
          : `installed ${label} from ${result.registry}`,
      );
      if (result.installed && result.kind === "agent") {
        // As after 'plugin add': what it asks for, and how to grant it.
        const info = await mesh.plugin.info({ name: result.name, version: result.version });
        const flags = (["read", "write", "net", "env"] as const)
          .flatMap((kind) => info.requested[kind].map((entry) => `--${kind} ${quote(entry)}`));
        if (flags.length) {
          ctx.io.out(
            `it requests ${
              describePermissions(info.requested)
            }; grant what you allow with:\n  roam plugin grant ${result.name} ${flags.join(" ")}`,
          );
        }
      }
    });

  plugin.command("update")
    .description(
      "update a plugin (or every plugin installed from a registry) to the newest version in the range it was installed with",
    )
    .argument("[name]", "the plugin (default: all)")
    .option("--registry <url>", "use this registry instead of the one each plugin came from")
    .option("--accept-new-key", ACCEPT_HELP)
    .action(async (name: string | undefined, opts: RegistryFlags) => {
      const mesh = await client(ctx);
      const result = await withProgress(ctx, mesh, (progressId) =>
        mesh.registry.update(
          { name, progressId, ...registryParams(opts, false) },
          { timeoutMs: INSTALL_TIMEOUT_MS },
        ));
      if (ctx.global().json) return printJson(ctx, result);
      for (const u of result.updated) ctx.io.out(`updated ${u.name} ${u.from} -> ${u.to}`);
      for (const c of result.current) ctx.io.out(`${c.name} ${c.version} is the newest`);
      for (const h of result.heldBack) {
        ctx.io.err(
          `roam: note: ${h.name} ${h.version} needs roam ${h.minRoam} or newer; upgrade roam to get it`,
        );
      }
      for (const f of result.failed) ctx.io.err(`roam: ${f.name}: ${f.message}`);
      if (!result.updated.length && !result.current.length && !result.failed.length) {
        ctx.io.out("nothing is installed from a registry; install with 'roam plugin install NAME'");
      }
      if (result.failed.length) {
        throw new RoamError(
          "unavailable",
          `${result.failed.length} plugin(s) could not be updated`,
        );
      }
    });
}

/** The `--registry` and `--accept-new-key` flags. */
export interface RegistryFlags {
  /** `--registry`. */
  registry?: string;
  /** `--accept-new-key`. */
  acceptNewKey?: boolean;
}

/**
 * The registry params for a call: `--registry` (else `$ROAM_REGISTRY` when
 * `useEnv`), a path made a file URL. Undefined leaves the host's default.
 */
export function registryParams(
  opts: RegistryFlags,
  useEnv = true,
): { registry?: string; acceptNewKey: boolean } {
  const given = opts.registry ?? (useEnv ? Deno.env.get("ROAM_REGISTRY") || undefined : undefined);
  return {
    ...(given === undefined ? {} : { registry: toRegistryUrl(given) }),
    acceptNewKey: opts.acceptNewKey ?? false,
  };
}

/** A registry argument as a URL: URLs as they are, paths as file URLs. */
export function toRegistryUrl(value: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  return pathToFileURL(resolve(value)).href;
}

/** What a registry offers, as a table. */
export function printOffer(
  ctx: CommandContext,
  plugins: ResultOf<"registry.search">["plugins"],
  registry: string,
): void {
  if (plugins.length === 0) return ctx.io.out(`no plugins found in ${registry}`);
  ctx.io.out(formatTable(plugins, [
    { header: "NAME", value: (p) => p.name },
    { header: "KIND", value: (p) => p.kind },
    { header: "LATEST", value: (p) => p.latestHere ?? `${p.latest} (needs a newer roam)` },
    { header: "INSTALLED", value: (p) => p.installed ?? "-" },
    { header: "DESCRIPTION", value: (p) => p.description || "-", max: 70 },
  ]));
}

/** One plugin of a registry, as `roam plugin info --registry` shows it. */
export function printRegistryInfo(ctx: CommandContext, info: ResultOf<"registry.info">): void {
  const newest = info.versions[0];
  ctx.io.out(formatPairs([
    ["name", info.name],
    ["kind", info.kind],
    ["description", info.description || "-"],
    ["registry", info.registry],
    ["signed by", info.key ?? "(unsigned)"],
    ["versions", info.versions.map((v) => v.runsHere ? v.version : `${v.version}*`).join(", ")],
    ["installed", info.installed ?? "-"],
    ["archive", `${newest.archive.url} (${newest.archive.size} bytes)`],
    ["sha256", newest.archive.sha256],
    ["needs roam", newest.minRoam],
    ["permissions", describePermissions(newest.permissions)],
    ...(newest.environment ? [["environment", JSON.stringify(newest.environment)] as const] : []),
    ["resources", JSON.stringify(newest.resources)],
  ]));
  if (info.versions.some((v) => !v.runsHere)) {
    ctx.io.out("(* needs a newer roam than the host runs)");
  }
}

/** The registry installs of the host, or none when the host does not have the registry. */
export async function registryInstalls(mesh: Roam): Promise<InstallRecordView[]> {
  try {
    return (await mesh.registry.installed()).plugins;
  } catch (error) {
    if (error instanceof RoamError && error.code === "method_not_found") return [];
    throw error;
  }
}

function quote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

function describePermissions(perms: Record<string, string[] | boolean>): string {
  const parts = Object.entries(perms)
    .filter(([, value]) => Array.isArray(value) ? value.length > 0 : value)
    .map(([k, value]) => Array.isArray(value) ? `${k} ${value.join(", ")}` : k);
  return parts.length ? parts.join("; ") : "nothing";
}

function parseInstallSpec(spec: string): { name: string; range?: string } {
  const at = spec.indexOf("@");
  const name = at < 0 ? spec : spec.slice(0, at);
  const range = at < 0 ? undefined : spec.slice(at + 1).trim();
  if (!/^[a-z][a-z0-9-]{0,63}$/.test(name) || range === "") {
    throw new RoamError(
      "invalid_input",
      `expected NAME or NAME@RANGE (like hello or hello@^0.1), got "${spec}"`,
      { spec },
    );
  }
  return { name, range };
}

/**
 * Run an install or update with a progress id, showing its progress on
 * stderr until it finishes: each phase once, downloads in 10% steps.
 */
async function withProgress<T>(
  ctx: CommandContext,
  mesh: Roam,
  run: (progressId: string) => Promise<T>,
): Promise<T> {
  const id = crypto.randomUUID();
  let done = false;
  const call = run(id).finally(() => done = true);
  let last = "";
  let shownPercent = -1;
  const show = (p: ResultOf<"registry.progress">["progress"]) => {
    if (!p || !p.name || p.phase === "resolving") return;
    const label = `${p.name}${p.version ? ` ${p.version}` : ""}`;
    if (p.phase === "downloading") {
      const percent = p.total ? Math.floor((p.received / p.total) * 10) * 10 : 0;
      if (last === `downloading ${label}` && percent === shownPercent) return;
      last = `downloading ${label}`;
      shownPercent = percent;
      ctx.io.err(`downloading ${label}: ${percent}% (${p.received} of ${p.total} bytes)`);
      return;
    }
    const line = `${p.phase} ${label}`;
    if (line !== last) {
      last = line;
      // A plugin installed already downloads nothing and needs no line.
      if (p.phase === "done" && p.total > 0) ctx.io.err(`verified and installed ${label}`);
      else if (p.phase !== "done" && p.phase !== "failed") ctx.io.err(line);
    }
  };
  while (!done) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      call.catch(() => {}),
      new Promise<void>((resolve) => timer = setTimeout(resolve, 200)),
    ]);
    clearTimeout(timer);
    if (done) break;
    show((await mesh.registry.progress({ id }).catch(() => ({ progress: null }))).progress);
  }
  const result = await call;
  show((await mesh.registry.progress({ id }).catch(() => ({ progress: null }))).progress);
  return result;
}
