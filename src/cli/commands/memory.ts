import type { Command } from "commander";
import { RoamError } from "../../errors/mod.ts";
import {
  constant,
  type Entry,
  type EntryRef,
  isGlobalId,
  isUuid,
  manifestUuid,
  nicknameUuid,
  openMemory,
  type RecalledTree,
  variable,
} from "../../memory/mod.ts";
import { toWire } from "../../memory/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatPairs, formatTable } from "../output.ts";

interface RefOptions {
  nickname?: string;
  evolution?: string;
  pool?: string;
}

/** `roam memory ...`: entries, nicknames, manifests and pools of the host's memory. */
export function memoryCommand(program: Command, ctx: CommandContext): void {
  const memory = program.command("memory")
    .description(
      "store and read entries (JSON or bytes, versioned, by nickname) and manifests in the host's pools",
    )
    .addHelpText(
      "after",
      `
An entry is one immutable version of some data, named UUID:EVOLUTION. A
nickname always maps to the same uuid (UUIDv5), on every host. A constant
never changes; a variable gets new versions with 'evolve'. A manifest names
many entries in a nested JSON blueprint.

Examples:
  roam memory put '{"lr":0.1}' --nickname cfg
  roam memory get --nickname cfg
  roam memory put --variable '{"step":0}' --nickname trainer
  roam memory evolve --nickname trainer '{"step":1}'
  roam memory put --file weights.bin --nickname weights
  roam memory get --nickname weights -o weights.bin
  roam memory manifest put run-1 blueprint.json
  roam memory manifest get run-1 --recall
  roam memory ls --pool local
  roam memory pools`,
    );

  memory.command("put")
    .description("store a value as a new entry (JSON by default)")
    .argument("[value]", "JSON text (use --text for a plain string, --file for bytes)")
    .option("--nickname <name>", "give it the uuid this nickname maps to")
    .option("--variable", "a variable (can evolve) instead of a constant")
    .option("--evolution <n>", "the evolution of a variable (default 0)")
    .option("--text", "store VALUE as a string, not parsed as JSON")
    .option("--file <path>", "store the bytes of this file ('-' for standard input)")
    .option("--pool <name>", "the pool (default: the host's default)")
    .option("--overwrite", "replace other content under the same id")
    .action(async (
      raw: string | undefined,
      opts: RefOptions & {
        variable?: boolean;
        text?: boolean;
        file?: string;
        overwrite?: boolean;
      },
    ) => {
      const value = await readValue(raw, opts);
      const identity = { nickname: opts.nickname };
      const entry = opts.variable
        ? variable(value, {
          ...identity,
          evolution: parseEvolution(opts.evolution ?? "0") as number,
        })
        : constant(value, identity);
      const id = await openMemory(await client(ctx)).memorize(entry, {
        pool: opts.pool,
        overwrite: opts.overwrite,
      });
      if (ctx.global().json) {
        return printJson(ctx, {
          id,
          uuid: entry.uuid,
          evolution: entry.evolution,
          kind: entry.kind,
        });
      }
      ctx.io.out(id);
    });

  memory.command("get")
    .description("read an entry: prints its JSON value, or writes its bytes with -o")
    .argument("[id]", "UUID:EVOLUTION, or a UUID for its latest evolution")
    .option("--nickname <name>", "the entry this nickname maps to")
    .option("--evolution <n>", "which evolution (default: the latest)")
    .option("-o, --out <file>", "write the value (bytes as they are, JSON as text) to this file")
    .option("--pool <name>", "the pool (default: the host's default)")
    .action(async (id: string | undefined, opts: RefOptions & { out?: string }) => {
      const entry = await openMemory(await client(ctx)).remember(parseRef(id, opts), {
        pool: opts.pool,
      });
      if (opts.out !== undefined) {
        const bytes = entry.value instanceof Uint8Array
          ? entry.value
          : new TextEncoder().encode(JSON.stringify(entry.value, null, 2) + "\n");
        await Deno.writeFile(opts.out, bytes);
        if (ctx.global().json) {
          return printJson(ctx, { id: entry.id, out: opts.out, bytes: bytes.length });
        }
        return ctx.io.err(`wrote ${bytes.length} bytes of ${entry.id} to ${opts.out}`);
      }
      if (ctx.global().json) return printJson(ctx, toWire(entry));
      if (entry.value instanceof Uint8Array) {
        throw new RoamError(
          "invalid_input",
          `entry ${entry.id} holds ${entry.value.length} bytes; write them to a file with -o FILE`,
        );
      }
      ctx.io.out(JSON.stringify(entry.value, null, 2));
    });

  memory.command("forget")
    .description("remove entries from a pool")
    .argument("[ids...]", "UUID:EVOLUTION ids (a bare UUID: its latest evolution)")
    .option("--nickname <name>", "the entry this nickname maps to")
    .option("--evolution <n>", "which evolution of the nickname (default: the latest)")
    .option("--pool <name>", "the pool (default: the host's default)")
    .action(async (ids: string[], opts: RefOptions) => {
      const refs: EntryRef[] = ids.map((id) => parseRef(id, {}));
      if (opts.nickname !== undefined) refs.push(parseRef(undefined, opts));
      if (refs.length === 0) throw new RoamError("invalid_input", "give ids or --nickname");
      const forgotten = await openMemory(await client(ctx)).forget(refs, { pool: opts.pool });
      if (ctx.global().json) return printJson(ctx, { forgotten });
      ctx.io.out(`forgot ${forgotten} of ${refs.length}`);
    });

  memory.command("evolve")
    .description("store the next evolution of a variable with a new value")
    .argument("[id]", "the variable: UUID (its latest evolution) or UUID:EVOLUTION")
    .argument("[value]", "the new value, JSON (or a string with --text)")
    .option(
      "--nickname <name>",
      "the variable this nickname maps to (then VALUE is the only argument)",
    )
    .option("--text", "store VALUE as a string")
    .option("--file <path>", "store the bytes of this file ('-' for standard input)")
    .option("--pool <name>", "the pool (default: the host's default)")
    .action(
      async (
        a: string | undefined,
        b: string | undefined,
        opts: RefOptions & { text?: boolean; file?: string },
      ) => {
        const [id, raw] = opts.nickname !== undefined ? [undefined, a] : [a, b];
        const mem = openMemory(await client(ctx));
        const current = await mem.remember(parseRef(id, opts), { pool: opts.pool });
        const next = current.evolve(await readValue(raw, opts));
        await mem.memorize(next, { pool: opts.pool });
        if (ctx.global().json) return printJson(ctx, { id: next.id, previous: current.id });
        ctx.io.out(next.id);
      },
    );

  memory.command("ls")
    .description("list the entry ids a pool holds")
    .option("--pool <name>", "the pool (default: the host's default)")
    .option("--prefix <text>", "only ids starting with this (a UUID: its evolutions)")
    .option("--after <id>", "start after this id (the 'next' of a previous page)")
    .option("--limit <n>", "most ids (default 1000)", (v) => Number(v))
    .action(async (opts: { pool?: string; prefix?: string; after?: string; limit?: number }) => {
      const page = await openMemory(await client(ctx)).list(opts);
      if (ctx.global().json) return printJson(ctx, page);
      for (const key of page.keys) ctx.io.out(key);
      if (page.next) ctx.io.err(`more: roam memory ls --after ${page.next}`);
    });

  memory.command("nick")
    .description("print the uuid a nickname maps to (computed here; no host needed)")
    .argument("<nickname>", "the nickname")
    .option("--manifest", "the uuid of a manifest's nickname")
    .action((nickname: string, opts: { manifest?: boolean }) => {
      const uuid = opts.manifest ? manifestUuid(nickname) : nicknameUuid(nickname);
      if (ctx.global().json) return printJson(ctx, { nickname, uuid, id: `${uuid}:0` });
      ctx.io.out(uuid);
    });

  memory.command("pools")
    .description("the host's pools, with hit, miss, put and delete counters")
    .action(async () => {
      const pools = await openMemory(await client(ctx)).pools();
      if (ctx.global().json) return printJson(ctx, pools);
      const rows = pools.flatMap((p) => [
        { name: p.name + (p.default ? " (default)" : ""), kind: p.kind, s: p.stats },
        ...(p.stats.tiers ?? []).map((t) => ({ name: `  ${t.name}`, kind: t.kind, s: t.stats })),
      ]);
      ctx.io.out(formatTable(rows, [
        { header: "POOL", value: (r) => r.name },
        { header: "KIND", value: (r) => r.kind },
        { header: "HITS", value: (r) => String(r.s.hits) },
        { header: "MISSES", value: (r) => String(r.s.misses) },
        { header: "PUTS", value: (r) => String(r.s.puts) },
        { header: "ENTRIES", value: (r) => r.s.entries === undefined ? "-" : String(r.s.entries) },
      ]));
    });

  memory.command("copy")
    .description("copy every record of one pool into another, on the host")
    .argument("<from>", "the pool to copy")
    .argument("<to>", "the pool to copy into")
    .option("--overwrite", "copy records the target has already")
    .action(async (from: string, to: string, opts: { overwrite?: boolean }) => {
      const json = ctx.global().json;
      const result = await openMemory(await client(ctx)).copy(from, to, {
        ...opts,
        onProgress: (p) => {
          if (!json) ctx.io.err(`… ${p.seen} ids looked at, ${p.copied} copied (${p.bytes} bytes)`);
        },
      });
      if (ctx.global().json) return printJson(ctx, result);
      ctx.io.out(
        `copied ${result.copied} records (${result.bytes} bytes); ${result.skipped} were there already`,
      );
    });

  const manifest = memory.command("manifest")
    .description("store and read manifests: nested JSON blueprints of entry ids, by nickname");

  manifest.command("put")
    .description(
      "store a manifest from a JSON blueprint whose leaves are entry ids (stored already)",
    )
    .argument("<nickname>", "the manifest's nickname (new content makes its next evolution)")
    .argument("<file>", "the blueprint JSON file, or '-' for standard input")
    .option("--pool <name>", "the pool (default: the host's default)")
    .action(async (nickname: string, file: string, opts: { pool?: string }) => {
      const text = file === "-"
        ? await new Response(Deno.stdin.readable).text()
        : await Deno.readTextFile(file);
      let blueprint: unknown;
      try {
        blueprint = JSON.parse(text);
      } catch (error) {
        throw new RoamError("invalid_input", `${file} is not JSON: ${(error as Error).message}`);
      }
      const m = await openMemory(await client(ctx)).putManifest(blueprint as never, {
        nickname,
        pool: opts.pool,
      });
      if (ctx.global().json) return printJson(ctx, m);
      ctx.io.out(m.id);
    });

  manifest.command("get")
    .description("print a manifest's blueprint, or with --recall every entry it names")
    .argument("<ref>", "the manifest's nickname, or its UUID:EVOLUTION id")
    .option("--evolution <n>", "which evolution of the nickname (default: the latest)")
    .option("--recall", "print the entries' values in the blueprint's shape")
    .option("--pool <name>", "the pool (default: the host's default)")
    .action(async (ref: string, opts: { evolution?: string; recall?: boolean; pool?: string }) => {
      const mem = openMemory(await client(ctx));
      const r: EntryRef = isGlobalId(ref)
        ? ref
        : { nickname: ref, evolution: parseEvolution(opts.evolution ?? "latest") };
      const m = await mem.getManifest(r, { pool: opts.pool });
      if (!opts.recall) {
        if (ctx.global().json) return printJson(ctx, m);
        ctx.io.out(formatPairs([["id", m.id], ["nickname", m.nickname ?? "-"]]));
        return ctx.io.out(JSON.stringify(m.blueprint, null, 2));
      }
      const tree = await mem.recall(m, { pool: opts.pool });
      printJson(ctx, valuesOf(tree));
    });
}

function valuesOf(tree: RecalledTree): unknown {
  const one = (e: Entry) => e.value instanceof Uint8Array ? toWire(e).value : e.value;
  return Object.fromEntries(
    Object.entries(tree).map(([k, v]) => [
      k,
      Array.isArray(v)
        ? v.map(one)
        : "uuid" in v && "evolution" in v
        ? one(v as Entry)
        : valuesOf(v as RecalledTree),
    ]),
  );
}

function parseEvolution(text: string): number | "latest" {
  if (text === "latest") return "latest";
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RoamError(
      "invalid_input",
      `--evolution takes a whole number ≥ 0 or 'latest', got "${text}"`,
    );
  }
  return n;
}

function parseRef(id: string | undefined, opts: RefOptions): EntryRef {
  if (opts.nickname !== undefined) {
    if (id !== undefined) {
      throw new RoamError("invalid_input", "give an id or --nickname, not both");
    }
    return { nickname: opts.nickname, evolution: parseEvolution(opts.evolution ?? "latest") };
  }
  if (id === undefined) {
    throw new RoamError("invalid_input", "give an entry id (UUID:EVOLUTION) or --nickname NAME");
  }
  if (isGlobalId(id)) return id;
  if (isUuid(id)) return { uuid: id, evolution: parseEvolution(opts.evolution ?? "latest") };
  throw new RoamError(
    "invalid_input",
    `"${id}" is not an entry id; give UUID:EVOLUTION, a UUID, or --nickname NAME`,
  );
}

async function readValue(
  raw: string | undefined,
  opts: { text?: boolean; file?: string },
): Promise<unknown> {
  if (opts.file !== undefined) {
    if (raw !== undefined) throw new RoamError("invalid_input", "give a VALUE or --file, not both");
    return opts.file === "-"
      ? new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer())
      : await Deno.readFile(opts.file).catch((error) => {
        throw new RoamError("not_found", `cannot read ${opts.file}: ${error.message}`);
      });
  }
  if (raw === undefined) {
    throw new RoamError("invalid_input", "give a VALUE (JSON), --text VALUE or --file PATH");
  }
  if (opts.text) return raw;
  try {
    return JSON.parse(raw);
  } catch {
    throw new RoamError(
      "invalid_input",
      `VALUE is not JSON: ${
        JSON.stringify(raw.slice(0, 40))
      }; quote strings ('"text"') or use --text`,
    );
  }
}
