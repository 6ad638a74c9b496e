import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { isRoamError } from "../errors/mod.ts";
import { createArchive, extractArchive } from "./archive.ts";

const text = (s: string) => new TextEncoder().encode(s);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "roam-archive-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

type RawEntry = { name: string; type?: string; linkname?: string; data?: string; size?: number };

/** A .tar.gz written with raw headers, as a hostile publisher could. */
async function rawArchive(entries: RawEntry[]): Promise<Uint8Array> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  pack.on("data", (c) => chunks.push(c as Uint8Array));
  const ended = new Promise<void>((resolve) => pack.on("end", () => resolve()));
  for (const e of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        // deno-lint-ignore no-explicit-any
        { name: e.name, type: (e.type ?? "file") as any, linkname: e.linkname, mode: 0o644 },
        Buffer.from(e.data ?? ""),
        (error?: Error | null) => error ? reject(error) : resolve(),
      )
    );
  }
  pack.finalize();
  await ended;
  return new Uint8Array(gzipSync(Buffer.concat(chunks)));
}

async function refusal(
  dir: string,
  archive: Uint8Array,
  limits?: Parameters<typeof extractArchive>[2],
) {
  const file = join(dir, "a.tar.gz");
  await Deno.writeFile(file, archive);
  const out = join(dir, "out");
  await Deno.mkdir(out);
  try {
    await extractArchive(file, out, limits);
  } catch (error) {
    assert.ok(isRoamError(error), String(error));
    return error;
  }
  assert.fail("the archive was unpacked");
}

Deno.test("an archive is byte for byte the same for the same files, in any order", async () => {
  const files = [
    { path: "plugin.json", data: text("{}") },
    { path: "lib/x.py", data: text("print(1)\n"), executable: true },
  ];
  const a = await createArchive(files);
  const b = await createArchive([...files].reverse());
  assert.deepEqual(a, b);
  const c = await createArchive([{ ...files[0], data: text("{ }") }, files[1]]);
  assert.notDeepEqual(a, c);
});

Deno.test("an archive unpacks to its files, modes kept", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "a.tar.gz");
    await Deno.writeFile(
      file,
      await createArchive([
        { path: "plugin.json", data: text('{"a":1}') },
        { path: "lib/run.sh", data: text("#!/bin/sh\n"), executable: true },
      ]),
    );
    const out = join(dir, "out");
    await Deno.mkdir(out);
    const written = await extractArchive(file, out);
    assert.deepEqual(written.sort(), ["lib/run.sh", "plugin.json"]);
    assert.equal(await Deno.readTextFile(join(out, "plugin.json")), '{"a":1}');
    assert.equal((await Deno.stat(join(out, "lib/run.sh"))).mode! & 0o111, 0o111);
  });
});

Deno.test("an archive entry with '..' or an absolute path is refused and nothing lands outside", async () => {
  await withDir(async (dir) => {
    for (const name of ["../evil.txt", "ok/../../evil.txt", "/tmp/roam-evil.txt"]) {
      const error = await refusal(dir, await rawArchive([{ name, data: "x" }]));
      assert.equal(error.code, "unavailable", error.message);
      assert.equal(error.data?.unsafe, true);
      await assert.rejects(Deno.stat(join(dir, "evil.txt")));
      await Deno.remove(join(dir, "out"), { recursive: true });
    }
  });
});

Deno.test("links in an archive are refused, whatever they point at", async () => {
  await withDir(async (dir) => {
    for (
      const link of [
        { name: "up", type: "symlink", linkname: "../../etc" },
        { name: "in", type: "symlink", linkname: "plugin.json" },
        { name: "hard", type: "link", linkname: "/etc/passwd" },
      ]
    ) {
      const error = await refusal(dir, await rawArchive([link]));
      assert.match(error.message, /may hold only files and dirs/);
      await Deno.remove(join(dir, "out"), { recursive: true });
    }
  });
});

Deno.test("archives past the size and entry limits are refused", async () => {
  await withDir(async (dir) => {
    const big = await createArchive([{ path: "zeros", data: new Uint8Array(64 * 1024) }]);
    const perFile = await refusal(dir, big, {
      maxEntries: 10,
      maxFileBytes: 1024,
      maxTotalBytes: 1 << 20,
    });
    assert.equal(perFile.code, "too_large");
    await Deno.remove(join(dir, "out"), { recursive: true });

    const many = await createArchive(
      Array.from({ length: 5 }, (_, i) => ({ path: `f${i}`, data: new Uint8Array(400) })),
    );
    const total = await refusal(dir, many, {
      maxEntries: 10,
      maxFileBytes: 1024,
      maxTotalBytes: 1500,
    });
    assert.equal(total.code, "too_large");
    await Deno.remove(join(dir, "out"), { recursive: true });

    const entries = await refusal(dir, many, {
      maxEntries: 3,
      maxFileBytes: 1024,
      maxTotalBytes: 1 << 20,
    });
    assert.match(entries.message, /more than 3 entries/);
  });
});

Deno.test("a file that is not a gzip tar is refused", async () => {
  await withDir(async (dir) => {
    const error = await refusal(dir, text("not an archive at all"));
    assert.equal(error.code, "unavailable");
    assert.match(error.message, /not a valid \.tar\.gz/);
  });
});
