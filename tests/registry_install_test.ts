import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { pathToFileURL } from "node:url";
import { connect, isRoamError, type Roam } from "../mod.ts";
import { buildRegistry, generateSigningKey } from "../src/registry/mod.ts";
import { startTestHost, type TestHost } from "./support/host.ts";
import { within } from "./support/wait.ts";
import { REPO_REGISTRY, serveDir, writeCapabilityRegistry } from "./registry_support.ts";

/** A host, a client for it, and a temp dir for registries; all gone afterwards. */
async function withHost(
  fn: (ctx: { mesh: Roam; t: TestHost; dir: string }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "roam-registry-" });
  const t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    await fn({ mesh, t, dir });
  } finally {
    await mesh.close();
    await t.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}

const capDir = (t: TestHost, name: string) => join(t.dataDir, "capabilities", name);
const versionIn = async (dir: string) =>
  JSON.parse(await Deno.readTextFile(join(dir, "plugin.json"))).version;

async function stagingLeft(t: TestHost): Promise<string[]> {
  const names: string[] = [];
  for (const dir of ["registry/staging", "capabilities/.staging"]) {
    try {
      for await (const e of Deno.readDir(join(t.dataDir, dir))) names.push(`${dir}/${e.name}`);
    } catch { /* none */ }
  }
  return names;
}

Deno.test("an agent plugin installs from a file:// registry into the plugin store, as 'plugin add' would", async () => {
  await withHost(async ({ mesh }) => {
    const registry = pathToFileURL(REPO_REGISTRY).href; // a dir URL: index.json is added
    const result = await mesh.registry.install({ name: "hello", registry });
    assert.equal(result.installed, true);
    assert.equal(result.kind, "agent");
    assert.equal(result.registry, pathToFileURL(join(REPO_REGISTRY, "index.json")).href);
    const index = JSON.parse(await Deno.readTextFile(join(REPO_REGISTRY, "index.json")));
    const entry = index.plugins.find((p: { name: string }) => p.name === "hello");
    assert.equal(result.sha256, entry.versions[0].archive.sha256);

    const info = await mesh.plugin.info({ name: "hello" });
    assert.equal(info.version, entry.versions[0].version);
    assert.equal(info.kind, "agent");
    // The agent runs from the installed bundle.
    const agent = await mesh.agent.create({ plugin: "hello" });
    const reply = await mesh.agent.send({ id: agent.id, kind: "echo", args: { x: 1 } });
    assert.deepEqual(reply.reply, { x: 1 });
    await mesh.agent.dispose({ id: agent.id });

    const again = await mesh.registry.install({ name: "hello", registry });
    assert.equal(again.installed, false);
    const { plugins } = await mesh.registry.installed();
    assert.deepEqual(plugins.map((p) => [p.name, p.kind, p.range]), [["hello", "agent", "*"]]);

    const removed = await mesh.registry.remove({ name: "hello" });
    assert.equal(removed.name, "hello");
    await assert.rejects(mesh.plugin.info({ name: "hello" }), (e) => isRoamError(e, "not_found"));
    assert.deepEqual((await mesh.registry.installed()).plugins, []);
  });
});

Deno.test("updating an agent plugin adds the new version for new agents; agents on the old one keep it", async () => {
  await withHost(async ({ mesh, dir }) => {
    const hello = new URL("../plugins/hello/", import.meta.url).pathname;
    const manifest = JSON.parse(await Deno.readTextFile(join(hello, "plugin.json")));
    const out = join(dir, "registry");
    for (const version of ["0.1.0", "0.2.0"]) {
      const src = join(dir, `src-${version}`, "hello");
      await Deno.mkdir(src, { recursive: true });
      await Deno.copyFile(join(hello, "hello.ts"), join(src, "hello.ts"));
      await Deno.writeTextFile(join(src, "plugin.json"), JSON.stringify({ ...manifest, version }));
      await buildRegistry({ pluginsDir: join(dir, `src-${version}`), outDir: join(dir, version) });
    }
    // One index with both versions.
    const index = JSON.parse(await Deno.readTextFile(join(dir, "0.1.0", "index.json")));
    const newer = JSON.parse(await Deno.readTextFile(join(dir, "0.2.0", "index.json")));
    index.plugins[0].versions.push(newer.plugins[0].versions[0]);
    await Deno.mkdir(join(out, "archives"), { recursive: true });
    for (const version of ["0.1.0", "0.2.0"]) {
      const name = `archives/hello-${version}.tar.gz`;
      await Deno.copyFile(join(dir, version, name), join(out, name));
    }
    await Deno.writeTextFile(join(out, "index.json"), JSON.stringify(index));
    const registry = pathToFileURL(out).href;

    await mesh.registry.install({ name: "hello", range: "~0.1", registry });
    const old = await mesh.agent.create({ plugin: "hello" });
    await mesh.registry.install({ name: "hello", registry });
    const info = await mesh.plugin.info({ name: "hello" });
    assert.deepEqual([info.version, info.versions], ["0.2.0", ["0.2.0", "0.1.0"]]);
    // Asleep and awake again: it loads its code from the store anew.
    await mesh.agent.deactivate({ id: old.id });
    await mesh.agent.activate({ id: old.id });
    assert.equal((await mesh.agent.get({ id: old.id })).version, "0.1.0");
    assert.deepEqual((await mesh.agent.send({ id: old.id, kind: "echo", args: 1 })).reply, 1);
    const fresh = await mesh.agent.create({ plugin: "hello" });
    assert.equal((await mesh.agent.get({ id: fresh.id })).version, "0.2.0");
    for (const id of [old.id, fresh.id]) await mesh.agent.dispose({ id });
  });
});

Deno.test("a capability installs from an HTTP registry served by the test into DATA_DIR/capabilities/NAME", async () => {
  await withHost(async ({ mesh, t, dir }) => {
    await writeCapabilityRegistry(dir, {
      "echo-cap": [{ version: "0.1.0", files: { "worker.py": "print(1)\n", "lib/a.py": "" } }],
    });
    await using server = await serveDir(dir);
    const found = await mesh.registry.search({ text: "echo", registry: server.url });
    assert.deepEqual(found.plugins.map((p) => [p.name, p.kind, p.latestHere]), [[
      "echo-cap",
      "capability",
      "0.1.0",
    ]]);
    const result = await mesh.registry.install({ name: "echo-cap", registry: server.url });
    assert.equal(result.registry, `${server.url}index.json`);
    assert.equal(await versionIn(capDir(t, "echo-cap")), "0.1.0");
    assert.equal(await Deno.readTextFile(join(capDir(t, "echo-cap"), "worker.py")), "print(1)\n");
    await Deno.stat(join(capDir(t, "echo-cap"), "lib/a.py"));
    assert.ok(server.requests.includes("/archives/echo-cap-0.1.0.tar.gz"));
    assert.ok(server.requests.includes("/index.json.sig"), "the signature is looked for");
    assert.deepEqual(await stagingLeft(t), []);

    const info = await mesh.registry.info({ name: "echo-cap", registry: server.url });
    assert.equal(info.installed, "0.1.0");
    assert.equal(info.versions[0].archive.url, `${server.url}archives/echo-cap-0.1.0.tar.gz`);
    assert.deepEqual(info.versions[0].environment, { type: "system" });

    await mesh.registry.remove({ name: "echo-cap" });
    await assert.rejects(Deno.stat(capDir(t, "echo-cap")));
    const events = await mesh.events.since({ since: 0, types: ["registry."] });
    assert.deepEqual(events.events.map((e) => e.type), ["registry.installed", "registry.removed"]);
  });
});

Deno.test("an archive whose sha256 or size differs from the index is refused and nothing is installed", async () => {
  await withHost(async ({ mesh, t, dir }) => {
    const registry = await writeCapabilityRegistry(dir, { "echo-cap": [{ version: "0.1.0" }] });
    const archive = join(dir, "archives/echo-cap-0.1.0.tar.gz");
    const bytes = await Deno.readFile(archive);
    const tampered = bytes.slice();
    tampered[tampered.length - 5] ^= 0xff;
    await Deno.writeFile(archive, tampered);
    await assert.rejects(
      mesh.registry.install({ name: "echo-cap", registry }),
      (e) => isRoamError(e, "unavailable") && e.data?.tampered === true && /sha256/.test(e.message),
    );
    await assert.rejects(Deno.stat(capDir(t, "echo-cap")));
    assert.deepEqual((await mesh.registry.installed()).plugins, []);
    assert.deepEqual(await stagingLeft(t), []);

    // Served over HTTP with a byte too many: stopped as soon as it passes the size.
    await Deno.writeFile(archive, bytes);
    await using server = await serveDir(
      dir,
      (path) => path.endsWith(".tar.gz") ? new Response(new Uint8Array([...bytes, 0])) : undefined,
    );
    await assert.rejects(
      mesh.registry.install({ name: "echo-cap", registry: server.url }),
      (e) => isRoamError(e, "unavailable") && /larger than the \d+ bytes/.test(e.message),
    );
    await assert.rejects(Deno.stat(capDir(t, "echo-cap")));
  });
});

Deno.test("a signed index pins its key; a tampered index, another key or no signature is refused", async () => {
  await withHost(async ({ mesh, dir }) => {
    const first = generateSigningKey();
    const registry = await writeCapabilityRegistry(dir, { "echo-cap": [{ version: "0.1.0" }] }, {
      signingKey: first.privatePem,
    });
    const found = await mesh.registry.search({ registry });
    assert.equal(found.key, first.publicKey);

    // The index changed after signing.
    const indexPath = join(dir, "index.json");
    const original = await Deno.readTextFile(indexPath);
    await Deno.writeTextFile(indexPath, original.replace("test capability", "evil capability"));
    await assert.rejects(
      mesh.registry.install({ name: "echo-cap", registry }),
      (e) => isRoamError(e, "unavailable") && e.data?.tampered === true,
    );
    await Deno.writeTextFile(indexPath, original);

    // Re-signed by someone else.
    const second = generateSigningKey();
    await writeCapabilityRegistry(dir, { "echo-cap": [{ version: "0.1.0" }] }, {
      signingKey: second.privatePem,
    });
    await assert.rejects(
      mesh.registry.install({ name: "echo-cap", registry }),
      (e) =>
        isRoamError(e, "forbidden") && e.message.includes(first.publicKey) &&
        e.message.includes(second.publicKey) && /--accept-new-key/.test(e.message),
    );
    // Not signed at all any more.
    await writeCapabilityRegistry(dir, { "echo-cap": [{ version: "0.1.0" }] });
    await assert.rejects(
      mesh.registry.search({ registry }),
      (e) => isRoamError(e, "forbidden") && /is not signed/.test(e.message),
    );
    assert.deepEqual((await mesh.registry.installed()).plugins, []);

    // The operator accepts the new key; it is pinned from then on.
    await writeCapabilityRegistry(dir, { "echo-cap": [{ version: "0.1.0" }] }, {
      signingKey: second.privatePem,
    });
    const accepted = await mesh.registry.install({
      name: "echo-cap",
      registry,
      acceptNewKey: true,
    });
    assert.equal(accepted.version, "0.1.0");
    assert.equal((await mesh.registry.search({ registry })).key, second.publicKey);
  });
});

Deno.test("ranges pick the newest version in them, and update stays inside the range it was installed with", async () => {
  await withHost(async ({ mesh, t, dir }) => {
    const versions = [{ version: "0.1.0" }, { version: "0.2.0" }, { version: "1.0.0" }];
    const registry = await writeCapabilityRegistry(dir, { "echo-cap": versions });
    const first = await mesh.registry.install({ name: "echo-cap", range: "^0.1", registry });
    assert.equal(first.version, "0.1.0");
    const second = await mesh.registry.install({ name: "echo-cap", range: ">=0.1 <1", registry });
    assert.deepEqual([second.version, second.previous], ["0.2.0", "0.1.0"]);
    assert.equal(await versionIn(capDir(t, "echo-cap")), "0.2.0");

    // A new release inside the range, and one that needs a newer roam.
    await writeCapabilityRegistry(dir, {
      "echo-cap": [...versions, { version: "0.3.0" }, { version: "0.4.0", minRoam: "99.0.0" }],
    });
    const update = await mesh.registry.update({});
    assert.deepEqual(update.updated, [{ name: "echo-cap", from: "0.2.0", to: "0.3.0" }]);
    assert.deepEqual(update.heldBack, [{ name: "echo-cap", version: "0.4.0", minRoam: "99.0.0" }]);
    assert.equal(await versionIn(capDir(t, "echo-cap")), "0.3.0");
    const again = await mesh.registry.update({ name: "echo-cap" });
    assert.deepEqual(again.current, [{ name: "echo-cap", version: "0.3.0" }]);
    assert.deepEqual(again.updated, []);

    await assert.rejects(
      mesh.registry.install({ name: "echo-cap", range: "^2", registry }),
      (e) => isRoamError(e, "not_found") && /no version of echo-cap matches \^2/.test(e.message),
    );
    await assert.rejects(
      mesh.registry.install({ name: "echo-cap", range: "latest please", registry }),
      (e) => isRoamError(e, "invalid_input"),
    );
    await assert.rejects(
      mesh.registry.update({ name: "nothing-here" }),
      (e) => isRoamError(e, "not_found"),
    );
  });
});

Deno.test("a plugin that needs a newer roam is refused with the version it needs", async () => {
  await withHost(async ({ mesh, t, dir }) => {
    const registry = await writeCapabilityRegistry(dir, {
      future: [{ version: "1.0.0", minRoam: "99.0.0" }],
    });
    const found = await mesh.registry.search({ registry });
    assert.equal(found.plugins[0].latestHere, null);
    await assert.rejects(
      mesh.registry.install({ name: "future", registry }),
      (e) =>
        isRoamError(e, "unsupported") &&
        /future 1\.0\.0 needs roam 99\.0\.0 or newer; this host runs roam 0\.\d+\.\d+/.test(
          e.message,
        ),
    );
    await assert.rejects(Deno.stat(capDir(t, "future")));
  });
});

Deno.test("an archive that climbs out with '..' is refused and nothing is written outside", async () => {
  await withHost(async ({ mesh, t, dir }) => {
    // createArchive refuses such a path, so the archive is written the hard way.
    const pack = tar.pack();
    const chunks: Uint8Array[] = [];
    pack.on("data", (c) => chunks.push(c as Uint8Array));
    const ended = new Promise<void>((resolve) => pack.on("end", () => resolve()));
    pack.entry(
      { name: "plugin.json" },
      JSON.stringify({ name: "sneaky", version: "0.1.0", kind: "capability", entry: "w.py" }),
    );
    pack.entry({ name: "w.py" }, "");
    pack.entry({ name: "../../../sneaky.txt" }, "gotcha");
    pack.finalize();
    await ended;
    const data = new Uint8Array(gzipSync(Buffer.concat(chunks)));
    await Deno.mkdir(join(dir, "x"), { recursive: true });
    await Deno.writeFile(join(dir, "x/sneaky.tar.gz"), data);
    await Deno.writeTextFile(
      join(dir, "x/index.json"),
      JSON.stringify({
        format: "roam-registry/1",
        plugins: [{
          name: "sneaky",
          kind: "capability",
          description: "",
          versions: [{
            version: "0.1.0",
            minRoam: "0.1.0",
            archive: {
              url: "sneaky.tar.gz",
              sha256: createHash("sha256").update(data).digest("hex"),
              size: data.byteLength,
            },
          }],
        }],
      }),
    );
    await assert.rejects(
      mesh.registry.install({ name: "sneaky", registry: pathToFileURL(join(dir, "x")).href }),
      (e) => isRoamError(e, "unavailable") && e.data?.unsafe === true && /'\.\.'/.test(e.message),
    );
    await assert.rejects(Deno.stat(capDir(t, "sneaky")));
    for (const base of [t.dataDir, join(t.dataDir, "registry"), dir]) {
      await assert.rejects(Deno.stat(join(base, "sneaky.txt")));
    }
    assert.deepEqual(await stagingLeft(t), []);
  });
});

Deno.test("an index served over http may not name a local file as an archive", async () => {
  await withHost(async ({ mesh, dir }) => {
    await writeCapabilityRegistry(dir, { "echo-cap": [{ version: "0.1.0" }] });
    const indexPath = join(dir, "index.json");
    const index = JSON.parse(await Deno.readTextFile(indexPath));
    index.plugins[0].versions[0].archive.url = pathToFileURL(
      join(dir, "archives/echo-cap-0.1.0.tar.gz"),
    ).href;
    await Deno.writeTextFile(indexPath, JSON.stringify(index));
    await using server = await serveDir(dir);
    await assert.rejects(
      mesh.registry.install({ name: "echo-cap", registry: server.url }),
      (e) => isRoamError(e, "invalid_input") && /may name only http\(s\) archives/.test(e.message),
    );
  });
});

Deno.test("an index that is not roam-registry/1 is refused with the field at fault", async () => {
  await withHost(async ({ mesh, dir }) => {
    await Deno.writeTextFile(
      join(dir, "index.json"),
      JSON.stringify({ format: "roam-registry/2", plugins: [] }),
    );
    await assert.rejects(
      mesh.registry.search({ registry: pathToFileURL(dir).href }),
      (e) =>
        isRoamError(e, "invalid_input") && /format: must be "roam-registry\/1"/.test(e.message),
    );
    await assert.rejects(
      mesh.registry.search({}),
      (e) => isRoamError(e, "invalid_input") && /no registry given/.test(e.message),
    );
    await assert.rejects(
      mesh.registry.search({ registry: pathToFileURL(join(dir, "nowhere")).href }),
      (e) => isRoamError(e, "not_found") && /no registry index at/.test(e.message),
    );
  });
});

Deno.test("a download reports progress as it streams, and one that stalls is dropped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "roam-registry-" });
  await using t = await startTestHost({ registry: { stallMs: 2_000, maxIndexBytes: 64 * 1024 } });
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    // A capability with 1 MiB of data, so that the archive is large.
    const noise = Array.from({ length: 1 << 14 }, (_, i) => `${i * 2654435761 % 1e9}\n`).join("");
    await writeCapabilityRegistry(dir, {
      big: [{ version: "0.1.0", files: { "worker.py": "", "data.txt": noise } }],
    });
    const bytes = await Deno.readFile(join(dir, "archives/big-0.1.0.tar.gz"));
    const half = Math.floor(bytes.length / 2);
    let release!: () => void;
    const released = new Promise<void>((resolve) => release = resolve);
    let stall = false;
    await using server = await serveDir(dir, (path) => {
      if (!path.endsWith(".tar.gz")) return undefined;
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(bytes.slice(0, half));
          if (stall) return; // never more: the host must give up
          await released;
          controller.enqueue(bytes.slice(half));
          controller.close();
        },
      });
      return new Response(body);
    });

    const install = mesh.registry.install({
      name: "big",
      registry: server.url,
      progressId: "p1",
    });
    install.catch(() => {}); // awaited below; a failure must not surface before that
    const seen = await within(
      10_000,
      "download progress",
      (async () => {
        while (true) {
          const { progress } = await mesh.registry.progress({ id: "p1" });
          if (progress?.phase === "downloading" && progress.received > 0) return progress;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })(),
    );
    assert.equal(seen.total, bytes.length);
    assert.ok(seen.received < bytes.length);
    release();
    assert.equal((await install).version, "0.1.0");
    assert.equal((await mesh.registry.progress({ id: "p1" })).progress?.phase, "done");

    await mesh.registry.remove({ name: "big" });
    stall = true;
    await assert.rejects(
      mesh.registry.install({ name: "big", registry: server.url }),
      (e) =>
        isRoamError(e, "timeout") &&
        /sent nothing for 2000 ms and was dropped as stalled/.test(e.message),
    );
    await assert.rejects(Deno.stat(capDir(t, "big")));
    assert.deepEqual(await stagingLeft(t), []);

    // An index larger than the host takes.
    const index = JSON.parse(await Deno.readTextFile(join(dir, "index.json")));
    index.padding = "x".repeat(70 * 1024);
    await Deno.writeTextFile(join(dir, "index.json"), JSON.stringify(index));
    await assert.rejects(
      mesh.registry.search({ registry: server.url }),
      (e) => isRoamError(e, "too_large"),
    );
  } finally {
    await mesh.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a registry plugin removed with 'plugin remove' is no longer listed, and update does not bring it back", async () => {
  await withHost(async ({ mesh }) => {
    const registry = pathToFileURL(REPO_REGISTRY).href;
    await mesh.registry.install({ name: "hello", registry });
    await mesh.plugin.remove({ name: "hello" });
    assert.deepEqual((await mesh.registry.installed()).plugins, []);
    const update = await mesh.registry.update({});
    assert.deepEqual([update.updated, update.current, update.failed], [[], [], []]);
    await assert.rejects(
      mesh.registry.update({ name: "hello" }),
      (e) => isRoamError(e, "not_found"),
    );
    await assert.rejects(mesh.plugin.info({ name: "hello" }), (e) => isRoamError(e, "not_found"));
    // Installing again is a fresh install, not a no-op.
    const again = await mesh.registry.install({ name: "hello", registry });
    assert.deepEqual([again.installed, again.previous], [true, undefined]);
  });
});
