import type { Command } from "commander";
import { basename, dirname, join, resolve } from "node:path";
import { RoamError } from "../../errors/mod.ts";
import {
  MAX_BUNDLE_BYTES,
  packPlugin,
  type PermissionLists,
  type PluginManifest,
  readManifest,
} from "../../plugins/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatPairs, formatTable } from "../output.ts";
// registry: search, install and update from plugin registries.
import {
  printOffer,
  printRegistryInfo,
  type RegistryFlags,
  registryInstalls,
  registryParams,
  registrySubcommands,
} from "./plugin_registry.ts";

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `roam plugin ...`: pack, install, list, grant and remove agent plugins. */
export function pluginCommand(program: Command, ctx: CommandContext): void {
  const plugin = program.command("plugin")
    .description(
      "pack agent plugins, install plugins on a host (from a dir or a registry), and grant them permissions",
    )
    .addHelpText(
      "after",
      `
An agent plugin is a dir with plugin.json and TypeScript code. 'pack' bundles
it into one verified file; 'add' installs it on the host; an agent of it may
touch only what it requests in plugin.json AND the operator grants here.

Examples:
  roam plugin pack ./echo                  writes ./echo/dist/{plugin.json,bundle.cjs}
  roam plugin add ./echo                   packs and installs in one step
  roam plugin grant echo --read /data/models --net example.org:443
  roam plugin list
  roam plugin remove echo@1.0.0
  roam plugin search --registry ./registry        what a registry offers
  roam plugin install hello@^0.1 --registry https://example.org/roam/
  roam plugin update                              every plugin installed from a registry`,
    );

  plugin.command("pack")
    .description(
      "bundle a plugin dir into one CommonJS file plus a manifest with its sha256 (needs the deno CLI; no host)",
    )
    .argument("<dir>", "the plugin dir (holds plugin.json)")
    .option("-o, --out <dir>", "where to write plugin.json and bundle.cjs (default DIR/dist)")
    .addHelpText(
      "after",
      `
Examples:
  roam plugin pack ./echo
  roam plugin pack ./echo -o /tmp/echo-packed`,
    )
    .action(async (dir: string, opts: { out?: string }) => {
      const packed = await packPlugin(resolve(dir), {
        outDir: opts.out === undefined ? undefined : resolve(opts.out),
      });
      if (ctx.global().json) {
        return printJson(ctx, {
          name: packed.manifest.name,
          version: packed.manifest.version,
          outDir: packed.outDir,
          manifestPath: packed.manifestPath,
          bundlePath: packed.bundlePath,
          sha256: packed.sha256,
          size: packed.size,
        });
      }
      ctx.io.out(formatPairs([
        ["packed", `${packed.manifest.name} ${packed.manifest.version}`],
        ["bundle", packed.bundlePath],
        ["size", `${formatBytes(packed.size)} (${packed.size} bytes)`],
        ["sha256", packed.sha256],
      ]));
    });

  plugin.command("add")
    .description("install a plugin on the host from its source dir (packed first) or a packed dir")
    .argument("<path>", "a plugin dir, a packed dir (plugin.json with bundle), or its plugin.json")
    .addHelpText(
      "after",
      `
Examples:
  roam plugin add ./echo
  roam plugin add ./echo/dist
  roam --host http://10.0.0.7:7420 plugin add ./echo`,
    )
    .action(async (path: string) => {
      const { manifest, code } = await loadForAdd(resolve(path));
      const mesh = await client(ctx);
      const added = await mesh.plugin.add({ manifest, code });
      if (ctx.global().json) return printJson(ctx, added);
      const label = `${added.name} ${added.version}`;
      ctx.io.out(
        added.installed
          ? `installed ${label} (sha256 ${added.sha256}, ${formatBytes(added.size)})`
          : `${label} is installed already with the same code (sha256 ${added.sha256}); nothing changed`,
      );
      const wanted = grantFlags(manifest.permissions);
      if (added.installed && wanted) {
        ctx.io.out(
          `it requests ${
            describeLists(manifest.permissions)
          }; grant what you allow with:\n  roam plugin grant ${added.name} ${wanted}`,
        );
      }
    });

  plugin.command("list")
    .alias("ls")
    .description(
      "list the plugins installed on the host (with --registry: the plugins a registry offers)",
    )
    .option("--registry <url>", "list what this registry offers instead (a path or URL)")
    .option("--accept-new-key", "with --registry: take a changed publisher key")
    .action(async (opts: RegistryFlags) => {
      const mesh = await client(ctx);
      // registry: --registry lists what a registry offers.
      if (opts.registry !== undefined) {
        const found = await mesh.registry.search(registryParams(opts));
        if (ctx.global().json) return printJson(ctx, found);
        return printOffer(ctx, found.plugins, found.registry);
      }
      const { plugins } = await mesh.plugin.list();
      // registry: where each came from, and the capabilities installed from registries.
      const records = await registryInstalls(mesh);
      const from = (name: string, version: string) =>
        records.find((r) => r.name === name && r.version === version)?.registry ?? "local";
      const capabilities = records.filter((r) => r.kind === "capability");
      if (ctx.global().json) {
        return printJson(ctx, [
          ...plugins.map((p) => ({ ...p, kind: "agent", from: from(p.name, p.version) })),
          ...capabilities.map((c) => ({ ...c, from: c.registry })),
        ]);
      }
      if (plugins.length === 0 && capabilities.length === 0) {
        return ctx.io.out(
          "no plugins installed; add one with 'roam plugin add DIR' or 'roam plugin install NAME'",
        );
      }
      if (capabilities.length) {
        const table = formatTable(capabilities, [
          { header: "CAPABILITY", value: (c) => c.name },
          { header: "VERSION", value: (c) => c.version },
          { header: "SHA256", value: (c) => c.sha256.slice(0, 12) },
          { header: "FROM", value: (c) => c.registry, max: 60 },
          { header: "INSTALLED", value: (c) => c.installedAt },
        ]);
        if (plugins.length === 0) return ctx.io.out(table);
        ctx.io.out(`${table}\n`);
      }
      ctx.io.out(formatTable(plugins, [
        { header: "NAME", value: (p) => p.name },
        { header: "VERSION", value: (p) => p.version },
        { header: "SIZE", value: (p) => formatBytes(p.size) },
        { header: "SHA256", value: (p) => p.sha256.slice(0, 12) },
        { header: "REQUESTED", value: (p) => describeLists(p.requested), max: 40 },
        { header: "GRANTED", value: (p) => describeLists(p.granted), max: 40 },
        { header: "DESCRIPTION", value: (p) => p.description || "-", max: 60 },
        { header: "FROM", value: (p) => from(p.name, p.version), max: 60 }, // registry
      ]));
    });

  plugin.command("info")
    .description(
      "show one installed plugin: manifest, grants, and what its agents may touch (with --registry, or when not installed: what the registry says of it)",
    )
    .argument("<name>", "NAME or NAME@VERSION (default: the newest version)")
    .option("--registry <url>", "show what this registry says of the plugin (a path or URL)")
    .option("--accept-new-key", "with --registry: take a changed publisher key")
    .action(async (spec: string, opts: RegistryFlags) => {
      const { name, version } = parseSpec(spec);
      const mesh = await client(ctx);
      // registry: a registry's description with --registry; a capability's install record;
      // the default registry's description of a plugin that is not installed.
      if (opts.registry !== undefined) {
        const offered = await mesh.registry.info({ name, ...registryParams(opts) });
        return ctx.global().json ? printJson(ctx, offered) : printRegistryInfo(ctx, offered);
      }
      let info;
      try {
        info = await mesh.plugin.info({ name, version });
      } catch (error) {
        if (!(error instanceof RoamError) || error.code !== "not_found") throw error;
        const record = (await registryInstalls(mesh)).find((r) => r.name === name);
        if (record && (version === undefined || record.version === version)) {
          if (ctx.global().json) return printJson(ctx, record);
          return ctx.io.out(formatPairs([
            ["name", record.name],
            ["version", record.version],
            ["kind", record.kind],
            ["from", record.registry],
            ["range", record.range],
            ["sha256", record.sha256],
            ["installed", record.installedAt],
          ]));
        }
        const offered = await mesh.registry.info({ name, ...registryParams({}) }).catch(() => {
          throw error;
        });
        return ctx.global().json ? printJson(ctx, offered) : printRegistryInfo(ctx, offered);
      }
      if (ctx.global().json) return printJson(ctx, info);
      ctx.io.out(formatPairs([
        ["name", info.name],
        ["version", `${info.version} (installed: ${info.versions.join(", ")})`],
        ["kind", info.kind],
        ["description", info.description || "-"],
        ["entry", info.entry],
        ["sha256", info.sha256],
        ["size", `${formatBytes(info.size)} (${info.size} bytes)`],
        ["installed", info.installedAt],
        ["memory", `${info.resources.memoryMb} MB`],
        ["isolation", info.isolation],
        ["requested", describeLists(info.requested)],
        ["granted", describeLists(info.granted)],
        ["effective", describeLists(info.effective)],
      ]));
    });

  plugin.command("grant")
    .description(
      "grant a plugin paths, hosts and environment variables (added to its grants unless --replace)",
    )
    .argument("<name>", "the plugin's name")
    .option("--read <path>", "a path it may read, with everything under it; repeatable", collect)
    .option("--write <path>", "a path it may write, with everything under it; repeatable", collect)
    .option(
      "--net <host[:port]>",
      "a host it may reach (any port without one); repeatable",
      collect,
    )
    .option("--env <name>", "an environment variable it may read; repeatable", collect)
    .option("--replace", "replace its grants with these instead of adding them")
    .addHelpText(
      "after",
      `
An agent gets only what is granted here AND requested in its plugin.json.
Relative paths are taken from the current dir.

Examples:
  roam plugin grant echo --read /data/models --read ./inbox
  roam plugin grant fetcher --net example.org --net 10.0.0.5:8080 --env API_KEY
  roam plugin grant echo --replace --read /data/models`,
    )
    .action(async (name: string, opts: {
      read?: string[];
      write?: string[];
      net?: string[];
      env?: string[];
      replace?: boolean;
    }) => {
      if (!opts.read && !opts.write && !opts.net && !opts.env && !opts.replace) {
        throw new RoamError(
          "invalid_input",
          "give at least one of --read, --write, --net or --env (see 'roam plugin grant --help')",
        );
      }
      const mesh = await client(ctx);
      const result = await mesh.plugin.grant({
        name,
        read: opts.read?.map((p) => resolve(p)),
        write: opts.write?.map((p) => resolve(p)),
        net: opts.net,
        env: opts.env,
        replace: opts.replace ?? false,
      });
      if (ctx.global().json) return printJson(ctx, result);
      ctx.io.out(`${result.name} is granted ${describeLists(result.grants)}`);
      const unused = describeLists(result.unrequested, "");
      if (unused) {
        ctx.io.err(
          `roam: note: no installed version of ${result.name} requests ${unused}; those grants do nothing until one does`,
        );
      }
    });

  plugin.command("revoke")
    .description("take every grant away from a plugin")
    .argument("<name>", "the plugin's name")
    .action(async (name: string) => {
      const mesh = await client(ctx);
      const result = await mesh.plugin.revoke({ name });
      if (ctx.global().json) return printJson(ctx, result);
      ctx.io.out(
        result.revoked
          ? `revoked every grant of ${name}`
          : `${name} had no grants; nothing changed`,
      );
    });

  plugin.command("remove")
    .alias("rm")
    .description("uninstall a plugin version, or every version (and its grants) when none is named")
    .argument("<name>", "NAME or NAME@VERSION")
    .addHelpText(
      "after",
      `
Examples:
  roam plugin remove echo@1.0.0     that version only
  roam plugin remove echo           every version, and its grants`,
    )
    .action(async (spec: string) => {
      const { name, version } = parseSpec(spec);
      const mesh = await client(ctx);
      // registry: a plugin installed from a registry is removed with its record.
      const record = (await registryInstalls(mesh)).find((r) => r.name === name);
      if (record && (version === undefined || version === record.version)) {
        const gone = await mesh.registry.remove({ name });
        // Without a version, older agent versions an update left for their agents go too.
        const rest = gone.kind === "agent" && version === undefined
          ? await mesh.plugin.remove({ name }).then((r) => r.removed.map((p) => p.version))
            .catch(() => [] as string[])
          : [];
        if (ctx.global().json) return printJson(ctx, { ...gone, alsoRemoved: rest });
        return ctx.io.out(
          `removed ${gone.kind} plugin ${gone.name} ${gone.version}${
            rest.length ? ` (and ${rest.join(", ")})` : ""
          }`,
        );
      }
      const result = await mesh.plugin.remove({ name, version });
      if (ctx.global().json) return printJson(ctx, result);
      const list = result.removed.map((p) => `${p.name} ${p.version}`).join(", ");
      ctx.io.out(`removed ${list}${result.grantsDropped ? `; its grants were dropped too` : ""}`);
    });

  registrySubcommands(plugin, ctx); // registry

  for (const command of plugin.commands) {
    command.exitOverride().configureOutput(program.configureOutput()).showSuggestionAfterError();
  }
}

/** The manifest and code to send for PATH: a packed dir as it is, a source dir packed first. */
async function loadForAdd(path: string): Promise<{ manifest: PluginManifest; code: string }> {
  let dir = path;
  try {
    if ((await Deno.stat(path)).isFile && basename(path) === "plugin.json") dir = dirname(path);
  } catch {
    throw new RoamError("not_found", `${path} does not exist`, { path });
  }
  const { manifest } = await readManifest(dir);
  if (manifest.bundle) {
    return { manifest, code: await readBundle(join(dir, manifest.bundle.file)) };
  }
  const temp = await Deno.makeTempDir({ prefix: "roam-pack-" });
  try {
    const packed = await packPlugin(dir, { outDir: temp });
    return { manifest: packed.manifest, code: await readBundle(packed.bundlePath) };
  } finally {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
}

async function readBundle(path: string): Promise<string> {
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch {
    throw new RoamError(
      "not_found",
      `the bundle ${path} named in plugin.json does not exist; pack the plugin again`,
      { path },
    );
  }
  if (size > MAX_BUNDLE_BYTES) {
    throw new RoamError(
      "too_large",
      `the bundle ${path} is ${size} bytes; at most ${MAX_BUNDLE_BYTES} (8 MiB) are allowed`,
      { path, size, limit: MAX_BUNDLE_BYTES },
    );
  }
  return await Deno.readTextFile(path);
}

function parseSpec(spec: string): { name: string; version?: string } {
  const at = spec.indexOf("@");
  if (at < 0) return { name: spec };
  const name = spec.slice(0, at);
  const version = spec.slice(at + 1);
  if (!name || !version) {
    throw new RoamError("invalid_input", `expected NAME or NAME@VERSION, got "${spec}"`, { spec });
  }
  return { name, version };
}

/** Lists as `read /a, /b; net example.org`, or `none`. */
function describeLists(lists: PermissionLists, none = "nothing"): string {
  const parts = (["read", "write", "net", "env"] as const)
    .filter((kind) => lists[kind].length)
    .map((kind) => `${kind} ${lists[kind].join(", ")}`);
  return parts.length ? parts.join("; ") : none;
}

/** The `--read ... --net ...` flags that would grant everything in `lists`. */
function grantFlags(lists: PermissionLists): string {
  return (["read", "write", "net", "env"] as const)
    .flatMap((kind) => lists[kind].map((entry) => `--${kind} ${shellQuote(entry)}`))
    .join(" ");
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
