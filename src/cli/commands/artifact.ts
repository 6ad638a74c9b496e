import type { Command } from "commander";
// @ts-types="npm:@types/cli-progress@3.11.6"
import cliProgress from "cli-progress";
import { basename } from "node:path";
import process from "node:process";
import { downloadArtifact, uploadArtifact } from "../../artifacts/mod.ts";
import { resolveTarget } from "../../client/mod.ts";
import { RoamError } from "../../errors/mod.ts";
import { parseDuration } from "../../security/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatPairs, formatTable } from "../output.ts";

/** Transfers at least this big show a progress bar (on a terminal, or with --progress). */
const PROGRESS_MIN_BYTES = 4 * 1024 * 1024;
const SHA256 = /^[0-9a-f]{64}$/;
const collect = (value: string, previous: string[] = []) => [...previous, value];

function checkSha(sha256: string): string {
  if (!SHA256.test(sha256)) {
    throw new RoamError("invalid_input", `"${sha256}" is not a sha256 (64 lowercase hex digits)`, {
      sha256,
    });
  }
  return sha256;
}

function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** A progress bar on stderr for big transfers; `update` is a no-op for small ones. */
function progress(show: boolean) {
  let bar: cliProgress.SingleBar | undefined;
  const enabled = show || Deno.stderr.isTerminal();
  return {
    update(done: number, total: number | undefined) {
      if (!enabled) return;
      if (!bar) {
        if ((total ?? done) < PROGRESS_MIN_BYTES) return;
        bar = new cliProgress.SingleBar({
          format: "{bar} {percentage}% {moved} of {size}",
          stream: process.stderr,
          noTTYOutput: !Deno.stderr.isTerminal(),
          notTTYSchedule: 500,
          fps: 10,
          hideCursor: false,
        }, cliProgress.Presets.shades_classic);
        bar.start(total ?? 0, done, { moved: bytes(done), size: total ? bytes(total) : "?" });
      }
      if (total && bar.getTotal() !== total) bar.setTotal(total);
      bar.update(done, { moved: bytes(done), size: total ? bytes(total) : "?" });
    },
    stop() {
      bar?.stop();
    },
  };
}

/** `roam artifact ...`: blobs by sha256 on a host and across the mesh. */
export function artifactCommand(program: Command, ctx: CommandContext): void {
  const artifact = program.command("artifact")
    .description("store, fetch, pin and spread blobs addressed by their sha256")
    .addHelpText(
      "after",
      `
Examples:
  roam artifact put model.bin --name model.bin --expires 7d
  roam artifact get SHA256 -o model.bin        # resumes when model.bin is partly there
  tar c dir | roam artifact put -
  roam artifact pin SHA256 --holder agent:ID --name weights.bin   # travels with the agent
  roam artifact locate SHA256
  roam artifact replicate SHA256 --all`,
    );
  const target = async () => {
    const g = ctx.global();
    const t = await resolveTarget({ url: g.host, token: g.token, dataDir: g.dataDir });
    return { url: t.url, token: t.token };
  };

  artifact.command("put")
    .description("upload a file (or standard input with -) and print its sha256")
    .argument("<file>", "the file, or - for standard input")
    .option("--name <name>", "a name to keep with it (default: the file's name)")
    .option("--type <media-type>", "its media type (sent back as Content-Type)")
    .option("--expires <duration>", "remove it this long after the upload unless pinned (like 7d)")
    .option("--progress", "show a progress bar even when stderr is not a terminal")
    .action(async (file: string, opts) => {
      const expiresInS = opts.expires
        ? Math.max(1, Math.round(parseDuration(opts.expires) / 1000))
        : undefined;
      let body: ReadableStream<Uint8Array>;
      let size: number | undefined;
      if (file === "-") body = Deno.stdin.readable;
      else {
        let handle: Deno.FsFile;
        try {
          handle = await Deno.open(file, { read: true });
        } catch (error) {
          throw new RoamError("invalid_input", `cannot read ${file}: ${(error as Error).message}`, {
            file,
          });
        }
        size = (await handle.stat()).size;
        body = handle.readable;
      }
      const bar = progress(opts.progress === true);
      try {
        const result = await uploadArtifact({ ...await target(), onProgress: bar.update }, body, {
          name: opts.name ?? (file === "-" ? undefined : basename(file)),
          mediaType: opts.type,
          expiresInS,
          size,
        });
        bar.stop();
        if (ctx.global().json) printJson(ctx, result);
        else ctx.io.out(result.sha256);
      } finally {
        bar.stop();
      }
    });

  artifact.command("get")
    .description("download a blob, checked against its sha256; an -o file partly there is resumed")
    .argument("<sha256>", "the blob")
    .requiredOption("-o, --output <file>", "where to write it, or - for standard output")
    .option("--progress", "show a progress bar even when stderr is not a terminal")
    .action(async (sha256: string, opts) => {
      checkSha(sha256);
      const bar = progress(opts.progress === true);
      try {
        const out = opts.output === "-"
          ? { stream: Deno.stdout.writable }
          : { path: opts.output as string };
        const result = await downloadArtifact(
          { ...await target(), onProgress: bar.update },
          sha256,
          out,
        );
        bar.stop();
        if (opts.output !== "-") {
          ctx.io.err(
            `${opts.output}: ${result.size} bytes, sha256 checked${
              result.resumedAt ? ` (resumed at byte ${result.resumedAt})` : ""
            }`,
          );
        }
      } finally {
        bar.stop();
      }
    });

  artifact.command("ls")
    .alias("list")
    .description("list the blobs stored on the host, newest first")
    .option("--holder <holder>", "only blobs this holder pins (agent:ID, entry:ID, job:ID, user)")
    .option("--owner <owner>", "only blobs stored by this owner")
    .option("--name <name>", "only blobs with this name")
    .option("--limit <n>", "at most this many (default 100)", (v) => Number(v))
    .action(async (opts) => {
      const mesh = await client(ctx);
      const result = await mesh.artifact.list({
        holder: opts.holder,
        owner: opts.owner,
        name: opts.name,
        limit: opts.limit,
      });
      if (ctx.global().json) return printJson(ctx, result);
      const { usage } = result;
      if (result.artifacts.length === 0) ctx.io.out("no blobs");
      else {
        ctx.io.out(formatTable(result.artifacts, [
          { header: "SHA256", value: (a) => a.sha256.slice(0, 16) },
          { header: "SIZE", value: (a) => bytes(a.size) },
          { header: "NAME", value: (a) => a.name ?? "-", max: 32 },
          { header: "CREATED", value: (a) => a.created },
          { header: "EXPIRES", value: (a) => a.expires ?? "never" },
          { header: "PINS", value: (a) => a.pins.map((p) => p.holder).join(",") || "-", max: 40 },
        ]));
      }
      ctx.io.out(
        `${usage.blobs} blobs, ${bytes(usage.usedBytes)} of ${bytes(usage.quotaBytes)} used`,
      );
    });

  artifact.command("stat")
    .description("show one blob's size, names, expiry and pins")
    .argument("<sha256>", "the blob")
    .action(async (sha256: string) => {
      const mesh = await client(ctx);
      const info = await mesh.artifact.stat({ sha256: checkSha(sha256) });
      if (ctx.global().json) return printJson(ctx, info);
      ctx.io.out(formatPairs([
        ["sha256", info.sha256],
        ["size", `${info.size} (${bytes(info.size)})`],
        ["name", info.name ?? "-"],
        ["type", info.mediaType ?? "-"],
        ["owner", info.owner ?? "-"],
        ["created", info.created],
        ["expires", info.expires ?? "never"],
        [
          "pins",
          info.pins.map((p) => p.name ? `${p.holder} (${p.name})` : p.holder).join(", ") || "-",
        ],
      ]));
    });

  artifact.command("rm")
    .alias("remove")
    .description("remove a blob from the host now (a pinned one only with --force)")
    .argument("<sha256>", "the blob")
    .option("--force", "remove it even when pinned")
    .action(async (sha256: string, opts) => {
      const mesh = await client(ctx);
      const { removed } = await mesh.artifact.remove({
        sha256: checkSha(sha256),
        force: opts.force === true,
      });
      if (!removed) throw new RoamError("not_found", `no blob ${sha256} on this host`, { sha256 });
      ctx.io.out(`removed ${sha256}`);
    });

  artifact.command("pin")
    .description(
      "keep a blob from garbage collection; with --holder agent:ID and --name it becomes that agent's file",
    )
    .argument("<sha256>", "the blob")
    .option(
      "--holder <holder>",
      "who holds it: user (default), agent:ID, entry:ID or job:ID",
      "user",
    )
    .option("--name <name>", "a file name for the holder")
    .action(async (sha256: string, opts) => {
      const mesh = await client(ctx);
      await mesh.artifact.pin({ sha256: checkSha(sha256), holder: opts.holder, name: opts.name });
      ctx.io.out(`pinned ${sha256} for ${opts.holder}`);
    });

  artifact.command("unpin")
    .description("drop a pin; a blob with no pins left is collected after the grace period")
    .argument("<sha256>", "the blob")
    .option("--holder <holder>", "whose pin (default user)", "user")
    .action(async (sha256: string, opts) => {
      const mesh = await client(ctx);
      const { removed } = await mesh.artifact.unpin({
        sha256: checkSha(sha256),
        holder: opts.holder,
      });
      if (!removed) {
        throw new RoamError("not_found", `${opts.holder} holds no pin on ${sha256}`, { sha256 });
      }
      ctx.io.out(`unpinned ${sha256} for ${opts.holder}`);
    });

  artifact.command("gc")
    .description("remove unpinned blobs that expired or were released, now")
    .option("--dry-run", "only list what would be removed")
    .action(async (opts) => {
      const mesh = await client(ctx);
      const result = await mesh.artifact.gc({ dryRun: opts.dryRun === true });
      if (ctx.global().json) return printJson(ctx, result);
      for (const r of result.removed) ctx.io.out(`${r.sha256}  ${bytes(r.size)}  ${r.reason}`);
      ctx.io.out(
        `${opts.dryRun ? "would free" : "freed"} ${
          bytes(result.freedBytes)
        } in ${result.removed.length} blobs`,
      );
    });

  artifact.command("locate")
    .description("list the alive hosts of the mesh that hold a blob")
    .argument("<sha256>", "the blob")
    .action(async (sha256: string) => {
      const mesh = await client(ctx);
      const result = await mesh.artifact.locate({ sha256: checkSha(sha256) });
      if (ctx.global().json) return printJson(ctx, result);
      if (result.holders.length === 0) ctx.io.out(`no host holds ${sha256}`);
      else {
        ctx.io.out(formatTable(result.holders, [
          { header: "HOST", value: (h) => (h.name ?? "-") + (h.self ? " (this)" : "") },
          { header: "URL", value: (h) => h.url },
          { header: "SIZE", value: (h) => bytes(h.size) },
        ]));
      }
      if (result.unreachable.length) ctx.io.err(`no answer from: ${result.unreachable.join(", ")}`);
    });

  artifact.command("fetch")
    .description("make the host pull a blob from a holder (found in the mesh, or --from), checked")
    .argument("<sha256>", "the blob")
    .option("--from <host>", "a host to pull from, in order; repeatable", collect)
    .action(async (sha256: string, opts) => {
      const mesh = await client(ctx);
      const result = await mesh.artifact.fetch({ sha256: checkSha(sha256), from: opts.from });
      if (ctx.global().json) return printJson(ctx, result);
      ctx.io.out(
        result.already
          ? `the host has ${sha256} already`
          : `fetched ${bytes(result.size)} from ${result.from}`,
      );
      for (const a of result.attempts.filter((a) => !a.ok)) {
        ctx.io.err(`passed over ${a.url}: ${a.message}`);
      }
    });

  artifact.command("replicate")
    .description("spread a blob from the host to others, peer to peer (each serves the next)")
    .argument("<sha256>", "the blob")
    .option("--to <host>", "a host name or URL; repeatable", collect)
    .option("--all", "every other alive host of the mesh")
    .option("--fanout <n>", "hosts each host serves (1: a chain)", (v) => Number(v))
    .action(async (sha256: string, opts) => {
      if (!opts.all && !opts.to?.length) {
        throw new RoamError("invalid_input", "say where to: --to HOST (repeatable) or --all", {});
      }
      const mesh = await client(ctx);
      const result = await mesh.artifact.replicate({
        sha256: checkSha(sha256),
        to: opts.all ? "all" : opts.to,
        fanout: opts.fanout,
      });
      if (ctx.global().json) return printJson(ctx, result);
      ctx.io.out(formatTable(result.hosts, [
        { header: "HOST", value: (h) => h.url },
        { header: "OK", value: (h) => h.ok ? (h.already ? "had it" : "yes") : "no" },
        { header: "FROM", value: (h) => h.from ?? "-" },
        { header: "TIME", value: (h) => `${h.ms} ms` },
        { header: "ERROR", value: (h) => h.error?.message ?? "", max: 60 },
      ]));
      if (result.hosts.some((h) => !h.ok)) {
        throw new RoamError(
          "unavailable",
          `${result.hosts.filter((h) => !h.ok).length} hosts did not get the blob`,
          {},
        );
      }
    });
}
