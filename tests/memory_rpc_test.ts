/**
 * Memory on a real host: the `memory.*` methods through the script client
 * (batches, nicknames, manifests, guarantee across RPC), the pools'
 * counters, `roam memory` and `roam config export`, and a host started
 * again from its exported configuration with `roam host --from-manifest`.
 */
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { constant, type Entry, guarantee, nicknameUuid, openMemory, variable } from "../mod.ts";
import { isRoamError } from "../src/errors/mod.ts";
import { readConfigSnapshot } from "../src/memory/mod.ts";
import { CliProcess, roam } from "./support/cli.ts";
import { startTestHost } from "./support/host.ts";
import { rejection } from "./support/memory.ts";

const code = (c: string) => (e: unknown) => isRoamError(e) && e.code === c;

Deno.test("scripts use a host's memory over RPC: constants, variables, bytes, batches, manifests, guarantee", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  const memory = openMemory(mesh);
  const cfg = constant({ lr: 0.1 }, { nickname: "cfg" });
  assert.equal(await memory.memorize(cfg), cfg.id);
  assert.deepEqual((await memory.remember({ nickname: "cfg" })).value, { lr: 0.1 });
  const v0 = variable({ step: 0 }, { nickname: "trainer" });
  await memory.memorize([v0, v0.evolve({ step: 1 })]);
  const latest = await memory.remember({ nickname: "trainer" });
  assert.deepEqual([latest.evolution, latest.value, latest.kind], [1, { step: 1 }, "variable"]);
  assert.deepEqual(await memory.evolutions({ nickname: "trainer" }), [0, 1]);
  const bytes = constant(new Uint8Array(200_000).map((_, i) => (i * 7919) % 256));
  await memory.memorize(bytes);
  assert.deepEqual((await memory.remember(bytes.id)).value, bytes.value);

  // 600 entries go in batches under the request limit, and come back in order.
  const many = Array.from({ length: 600 }, (_, i) => constant({ i, pad: "x".repeat(10_000) }));
  const ids = await memory.memorize(many);
  const back = await memory.remember(ids);
  assert.deepEqual(back.map((e) => (e.value as { i: number }).i), many.map((_, i) => i));
  assert.equal(await memory.forget(ids.slice(0, 300)), 300);
  // Replies stay bounded: 40 entries of 1 MiB come back over two or more replies, in order.
  const big = Array.from({ length: 40 }, (_, i) => constant(new Uint8Array(1024 * 1024).fill(i)));
  await memory.memorize(big);
  const direct = await mesh.memory.remember({ refs: big.map((e) => e.id) });
  assert.equal(direct.truncated, true);
  assert(direct.entries.length < 40);
  const all = await memory.remember(big.map((e) => e.id));
  assert.deepEqual(all.map((e) => (e.value as Uint8Array)[0]), big.map((_, i) => i));
  await memory.forget(big.map((e) => e.id));

  const m = await memory.putManifest({ cfg, run: { state: latest, blob: bytes } }, {
    nickname: "exp",
  });
  const recalled = await memory.recall({ nickname: "exp" });
  assert.deepEqual((recalled.cfg as Entry).value, { lr: 0.1 });
  assert.deepEqual((recalled.run as Record<string, Entry>).blob.value, bytes.value);
  assert.equal((await memory.getManifest({ nickname: "exp" })).id, m.id);
  // The host refuses a manifest naming entries it does not hold.
  await assert.rejects(
    () => mesh.memory.manifestPut({ blueprint: { x: constant("nowhere").id } }),
    code("not_found"),
  );
  // A conflict and a missing entry both surface through guarantee, the first one first.
  const err = await rejection(() =>
    guarantee(() => {
      memory.memorize(constant({ lr: 0.5 }, { nickname: "cfg" }));
      memory.remember(constant("never").id);
    })
  );
  assert(isRoamError(err) && (err.code === "conflict" || err.code === "not_found"), String(err));

  const pools = await memory.pools();
  const local = pools.find((p) => p.name === "local")!;
  assert.equal(local.default, true);
  assert.equal(local.stats.tiers?.length, 2);
  assert(local.stats.tiers![0].stats.hits > 0, "the in-process cache served reads");
  const steps: number[] = [];
  const copied = await memory.copy("local", "memory", {
    pageSize: 100,
    onProgress: (p) => steps.push(p.seen),
  });
  assert(copied.copied > 300);
  assert(steps.length >= 4 && steps[steps.length - 1] === copied.seen, String(steps));
  assert.deepEqual((await memory.remember(cfg.id, { pool: "memory" })).value, { lr: 0.1 });
  await assert.rejects(() => memory.remember(cfg.id, { pool: "nope" }), code("not_found"));
  await mesh.close();
});

Deno.test("roam memory put/get/evolve/ls/nick/forget and manifest put/get from the command line", async () => {
  await using t = await startTestHost();
  const as = ["--host", t.host.url, "--token", t.token];
  const put = await roam([...as, "memory", "put", '{"a":1}', "--nickname", "x"]);
  assert.equal(put.code, 0, put.stderr);
  assert.equal(put.stdout.trim(), `${nicknameUuid("x")}:0`);
  const nick = await roam(["memory", "nick", "x"]);
  assert.equal(nick.stdout.trim(), nicknameUuid("x"));
  const v = await roam([
    ...as,
    "--json",
    "memory",
    "put",
    "--variable",
    "1",
    "--nickname",
    "counter",
  ]);
  assert.equal(JSON.parse(v.stdout).kind, "variable");
  const ev = await roam([...as, "memory", "evolve", "--nickname", "counter", "2"]);
  assert.equal(ev.stdout.trim(), `${nicknameUuid("counter")}:1`, ev.stderr);
  const get = await roam([...as, "--json", "memory", "get", "--nickname", "counter"]);
  assert.deepEqual(JSON.parse(get.stdout).value, { json: 2 });
  const bp = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    bp,
    JSON.stringify({ first: put.stdout.trim(), all: [put.stdout.trim()] }),
  );
  const mput = await roam([...as, "memory", "manifest", "put", "bundle", bp]);
  assert.equal(mput.code, 0, mput.stderr);
  const mget = await roam([...as, "memory", "manifest", "get", "bundle", "--recall"]);
  assert.deepEqual(JSON.parse(mget.stdout), { first: { a: 1 }, all: [{ a: 1 }] });
  const ls = await roam([...as, "memory", "ls"]);
  assert.equal(ls.stdout.trim().split("\n").length, 4); // x, counter:0, counter:1, the manifest
  const bad = await roam([...as, "memory", "put", "not json"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /not JSON.*--text/);
  const forget = await roam([...as, "memory", "forget", "--nickname", "x"]);
  assert.match(forget.stdout, /forgot 1 of 1/);
  const gone = await roam([...as, "memory", "get", "--nickname", "x"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /holds no entry/);
  await Deno.remove(bp);
});

Deno.test("roam config export stores the configuration; roam host --from-manifest rebuilds the host, flags winning", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-config-" });
  try {
    const first = await startTestHost({
      dataDir,
      name: "alpha",
      tags: ["gpu", "lab"],
      properties: { room: "b12" },
      agents: { memoryMb: 512 },
      limits: { maxBatch: 50 },
    });
    try {
      const out = await roam([
        "--host",
        first.host.url,
        "--token",
        first.token,
        "--json",
        "config",
        "export",
        "--pool",
        "local",
        "--nickname",
        "lab",
      ]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(JSON.parse(out.stdout).nickname, "lab");
      const shown = await roam([
        "--host",
        first.host.url,
        "--token",
        first.token,
        "config",
        "show",
        "lab",
      ]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.deepEqual(JSON.parse(shown.stdout).config.tags, ["gpu", "lab"]);
      // The same configuration exported again is the same manifest.
      const mesh = await connect({ url: first.host.url, token: first.token });
      assert.equal((await mesh.config.export({ nickname: "lab" })).id, JSON.parse(out.stdout).id);
    } finally {
      await first.host.stop();
    }
    const snapshot = await readConfigSnapshot({ dataDir, pool: "local", nickname: "lab" });
    const config = snapshot.config as Record<string, unknown>;
    assert.deepEqual([config.name, config.tags, config.properties], ["alpha", ["gpu", "lab"], {
      room: "b12",
    }]);
    assert.equal((config.agents as { memoryMb: number }).memoryMb, 512);
    assert.equal(config.dataDir, undefined);
    assert.equal(config.secretFile, undefined);
    assert(!JSON.stringify(config).includes(dataDir), "no machine-local paths in the snapshot");

    const host = new CliProcess([
      "--data-dir",
      dataDir,
      "host",
      "--from-manifest",
      "lab",
      "--pool",
      "local",
      "--port",
      "0",
      "--name",
      "beta",
    ]);
    try {
      await host.waitFor(/listening on/);
      const mesh = await connect({ dataDir });
      const info = await mesh.host.info();
      assert.equal(info.name, "beta", "a flag given on the command line wins");
      assert.deepEqual([info.tags, info.properties], [["gpu", "lab"], { room: "b12" }]);
      await mesh.close();
    } finally {
      await host.stop();
    }
    const missing = await roam([
      "--data-dir",
      dataDir,
      "host",
      "--from-manifest",
      "nothing",
      "--port",
      "0",
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /holds no manifest/);
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
