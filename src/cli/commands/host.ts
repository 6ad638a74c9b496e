import type { Command } from "commander";
import { RoamError } from "../../errors/mod.ts";
import { runUntilSignal, startHost } from "../../host/mod.ts";
import { parseMulticastGroup } from "../../mesh/mod.ts";
import type { CommandContext } from "../context.ts";
import { defaultDataDir } from "../../client/mod.ts";
import { type ConfigSnapshot, readConfigSnapshot, restorePlugins } from "../../memory/mod.ts"; // memory: --from-manifest

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `roam host`: run a host in the foreground until SIGINT or SIGTERM. */
export function hostCommand(program: Command, ctx: CommandContext): void {
  program.command("host")
    .description(
      "run a roam host on this machine until interrupted (Ctrl-C or SIGTERM stop it cleanly)",
    )
    .option("--name <name>", "the host's name in the mesh (default: the machine's hostname)")
    .option(
      "--bind <addr>",
      "where to listen: 'loopback' (default), 'auto' (the LAN addresses plus loopback, re-bound when they change) or an IP address; repeatable",
      collect,
    )
    .option("--port <port>", "TCP port (default 7420; 0 picks a free one)", parsePort)
    .option("--tag <tag>", "a label for placement; repeatable", collect)
    .option("--property <key=value>", "a fact about this host; repeatable", collect)
    .option(
      "--secret-file <file>",
      "the mesh secret (default DATA_DIR/secret; created with mode 0600 when missing)",
    )
    .option(
      "--peer <url>",
      "a host to join by unicast gossip, for networks without multicast; repeatable",
      collect,
    )
    .option(
      "--multicast-group <addr:port>",
      "the multicast group hosts announce themselves on (default 239.255.74.20:7421)",
      parseMulticastGroup,
    )
    .option("--no-multicast", "do not announce or listen on the multicast group")
    .option(
      "--gossip-port <port>",
      "UDP port for unicast gossip (default: the same number as --port)",
      parseGossipPort,
    )
    .option(
      "--relay <url>",
      "a hub (any roam host) to stay connected to, for a host others cannot connect to; it is then reached at URL/relay/<host id>; repeatable",
      collect,
    )
    .option(
      "--registry <url>",
      "the plugin registry index 'roam plugin install' uses by default (http(s) or file URL; default $ROAM_REGISTRY)",
    )
    // memory: start from a configuration snapshot ('roam config export').
    .option(
      "--from-manifest <nickname>",
      "start with the configuration stored by 'roam config export' under this nickname; flags given here win",
    )
    .option(
      "--pool <pool>",
      "where --from-manifest reads: 'local' (this data dir, default), an S3 pool of the memory secrets file, or a host URL",
    )
    .addHelpText(
      "after",
      `
Examples:
  roam host                          loopback only, port 7420, data in ~/.roam
  roam host --bind auto --tag gpu    reachable on the LAN, labelled 'gpu'
  roam host --port 0 --data-dir /tmp/roam-b --name b
  roam host --bind auto --no-multicast --peer http://192.168.1.20:7420
  roam host --relay http://hub.example:7420   behind NAT: reached through the hub
  roam host --from-manifest lab-gpu --pool local --port 0`,
    )
    .action(async (opts, command: Command) => {
      const flags = {
        name: opts.name,
        bind: opts.bind,
        port: opts.port,
        dataDir: ctx.global().dataDir,
        tags: opts.tag,
        properties: parseProperties(opts.property ?? []),
        secretFile: opts.secretFile,
        relay: opts.relay,
        ...(opts.registry ? { registry: { url: opts.registry } } : {}),
        mesh: {
          multicast: opts.multicast,
          group: opts.multicastGroup,
          peers: opts.peer,
          gossipPort: opts.gossipPort,
        },
      };
      // memory: a snapshot is the base; only flags given on the command line override it.
      const from = opts.fromManifest === undefined
        ? undefined
        : await fromManifest(opts.fromManifest, opts.pool ?? "local", flags, command, ctx);
      const log = (line: string) => ctx.io.err(line);
      await runUntilSignal(async () => {
        const host = await startHost(from?.input ?? flags, { log });
        // The snapshot's plugins, installed again from the code it carries, with their grants.
        if (from) await restoreFrom(host, from.snapshot, log);
        return host;
      });
    });
}

// memory: the snapshot's configuration with the flags the command line gave laid over it.
async function fromManifest(
  nickname: string,
  pool: string,
  flags: Record<string, unknown>,
  command: Command,
  ctx: CommandContext,
): Promise<{ input: Record<string, unknown>; snapshot: ConfigSnapshot }> {
  const dataDir = ctx.global().dataDir ?? defaultDataDir();
  const snapshot = await readConfigSnapshot({
    dataDir,
    pool,
    nickname,
    secretFile: command.opts().secretFile,
  });
  const given = (name: string) => command.getOptionValueSource(name) === "cli";
  const mesh = flags.mesh as Record<string, unknown>;
  const meshFlags = Object.fromEntries(
    Object.entries({
      multicast: "multicast",
      group: "multicastGroup",
      peers: "peer",
      gossipPort: "gossipPort",
    })
      .filter(([, opt]) => given(opt)).map(([key]) => [key, mesh[key]]),
  );
  const top = Object.fromEntries(
    Object.entries({
      name: "name",
      bind: "bind",
      port: "port",
      tags: "tag",
      properties: "property",
      secretFile: "secretFile",
      relay: "relay",
    }).filter(([, opt]) => given(opt)).map(([key]) => [key, flags[key]]),
  );
  ctx.io.err(`roam: configuration from manifest ${snapshot.id} ("${nickname}" in pool ${pool})`);
  const base = snapshot.config as Record<string, unknown>;
  return {
    snapshot,
    input: {
      ...base,
      ...top,
      dataDir,
      mesh: { ...(base.mesh as Record<string, unknown> ?? {}), ...meshFlags },
    },
  };
}

async function restoreFrom(
  host: { url: string; tokens: { mint(o: { subject: string; ttlMs: number }): string } },
  snapshot: ConfigSnapshot,
  log: (line: string) => void,
) {
  const token = host.tokens.mint({ subject: "roam:config-restore", ttlMs: 300_000 });
  try {
    const report = await restorePlugins(host.url, token, snapshot);
    if (report.installed.length) {
      log(`roam: installed from the snapshot: ${report.installed.join(", ")}`);
    }
    for (const f of report.failed) {
      log(`roam: could not install ${f.plugin} from the snapshot: ${f.reason}`);
    }
  } catch (error) {
    log(`roam: could not restore the snapshot's plugins: ${(error as Error).message}`);
  }
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RoamError(
      "invalid_input",
      `--port must be a whole number from 0 to 65535, got "${value}"`,
      { value },
    );
  }
  return port;
}

function parseProperties(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    if (eq <= 0) {
      throw new RoamError("invalid_input", `--property takes key=value, got "${item}"`, {
        value: item,
      });
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function parseGossipPort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RoamError(
      "invalid_input",
      `--gossip-port must be a whole number from 0 to 65535, got "${value}"`,
      { value },
    );
  }
  return port;
}
