import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import { connect, isRoamError, type RoamEvent } from "../mod.ts";
import {
  effectivePermissions,
  type ManifestInput,
  MAX_BUNDLE_BYTES,
  packPlugin,
  PluginStore,
} from "../src/plugins/mod.ts";
import { EventLog, openStore } from "../src/store/mod.ts";
import { CliProcess, roam } from "./support/cli.ts";
import { startTestHost } from "./support/host.ts";

const ECHO_DIR = new URL("./fixtures/plugins/echo", import.meta.url).pathname;
const PROBE_WORKER = new URL("./fixtures/plugins/probe_worker.ts", import.meta.url);

const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "roam-plugins-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Write a plugin dir: plugin.json from `manifest`, and the other files as given. */
async function writePlugin(
  dir: string,
  manifest: unknown,
  files: Record<string, string> = {},
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "plugin.json"),
    typeof manifest === "string" ? manifest : JSON.stringify(manifest),
  );
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
  return dir;
}

/** Pack the echo fixture and return its manifest and bundle text (nothing left on disk). */
async function packedEcho(): Promise<{ manifest: Record<string, unknown>; code: string }> {
  let result: { manifest: Record<string, unknown>; code: string } | undefined;
  await withTempDir(async (out) => {
    const packed = await packPlugin(ECHO_DIR, { outDir: out });
    result = { manifest: packed.manifest, code: await Deno.readTextFile(packed.bundlePath) };
  });
  return result!;
}

const agentManifest = (over: Partial<ManifestInput> = {}): ManifestInput => ({
  name: "echo",
  version: "1.0.0",
  kind: "agent",
  entry: "echo.ts",
  description: "a test plugin",
  ...over,
});

/** A store over a fresh data dir and database, closed afterwards. */
async function withStore(
  fn: (store: PluginStore, ctx: { dataDir: string; events: EventLog }) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dataDir) => {
    const db = openStore({ path: join(dataDir, "roam.db") });
    try {
      const events = new EventLog(db);
      await fn(new PluginStore({ db, dataDir, events }), { dataDir, events });
    } finally {
      db.close();
    }
  });
}

const eventTypes = (events: EventLog) =>
  events.since({ since: 0, limit: 100, types: ["plugin."] }).map((e: RoamEvent) => e.type);

// --- packing ---------------------------------------------------------------

Deno.test("pack bundles an agent plugin into one CommonJS file that requires @roam/agent and zod, and records its sha256", async () => {
  await withTempDir(async (out) => {
    const packed = await packPlugin(ECHO_DIR, { outDir: out });
    const bytes = await Deno.readFile(packed.bundlePath);
    const text = new TextDecoder().decode(bytes);
    assert.equal(packed.bundlePath, join(out, "bundle.cjs"));
    assert.match(text, /require\("@roam\/agent"\)/);
    assert.match(text, /require\("zod"\)/);
    assert.match(text, /module\.exports/);
    assert.match(text, /hello from echo/, "relative imports are inlined");
    assert.doesNotMatch(text, /^\s*import\s/m, "no ES module imports are left");
    assert.equal(packed.sha256, sha256(bytes));
    assert.equal(packed.size, bytes.byteLength);
    const written = JSON.parse(await Deno.readTextFile(join(out, "plugin.json")));
    assert.deepEqual(written.bundle, { file: "bundle.cjs", sha256: sha256(bytes) });
    assert.equal(written.name, "echo");
    assert.deepEqual(written.permissions.read, ["/tmp/roam-echo-data"]);
    assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
      "bundle.cjs",
      "plugin.json",
    ]);
  });
});

Deno.test("a packed bundle runs the way the agent runtime loads it: new Function(module, exports, require)", async () => {
  const { code } = await packedEcho();
  class Agent {
    state: unknown;
    handleMessage(msg: { kind: string }): unknown {
      throw new Error(`not handled: ${msg.kind}`);
    }
  }
  const required: string[] = [];
  const require = (id: string) => {
    required.push(id);
    if (id === "@roam/agent") return { Agent };
    if (id === "zod") return { z };
    throw new Error(`unexpected require(${id})`);
  };
  const module = { exports: {} as Record<string, unknown> };
  new Function("module", "exports", "require", code)(module, module.exports, require);
  assert.deepEqual(required.sort(), ["@roam/agent", "zod"]);
  const Echo = module.exports.default as new () => {
    state: { n: number };
    initialState(): { n: number };
    handleMessage(msg: unknown): unknown;
  };
  const agent = new Echo();
  assert.ok(agent instanceof Agent);
  agent.state = agent.initialState();
  assert.deepEqual(agent.handleMessage({ kind: "echo", args: { x: 1 } }), {
    echoed: { x: 1 },
    n: 1,
    greeting: "hello from echo",
  });
  assert.throws(() => agent.handleMessage({ kind: "nope" }), /not handled: nope/);
});

Deno.test("pack works outside this repo, with --no-config or with the plugin's own deno.json", async () => {
  await withTempDir(async (dir) => {
    const plain = await writePlugin(join(dir, "plain"), agentManifest({ entry: "main.ts" }), {
      "main.ts":
        'import { Agent } from "@roam/agent";\nexport default class Plain extends Agent {}\n',
    });
    const packed = await packPlugin(plain);
    assert.equal(packed.outDir, join(plain, "dist"));
    assert.match(await Deno.readTextFile(packed.bundlePath), /require\("@roam\/agent"\)/);

    const own = await writePlugin(join(dir, "own"), agentManifest({ entry: "main.ts" }), {
      "main.ts": 'import { word } from "words";\nexport default word;\n',
      "words.ts": 'export const word = "mapped by the plugin\'s own deno.json";\n',
      "deno.json": JSON.stringify({ imports: { words: "./words.ts" }, lock: false }),
    });
    const packedOwn = await packPlugin(own, { outDir: join(dir, "own-out") });
    assert.match(await Deno.readTextFile(packedOwn.bundlePath), /mapped by the plugin's own/);
  });
});

Deno.test("pack refuses a missing entry, code that does not bundle, its own dir as output, and a missing deno", async () => {
  await withTempDir(async (dir) => {
    const missing = await writePlugin(join(dir, "missing"), agentManifest({ entry: "nope.ts" }));
    await assert.rejects(
      () => packPlugin(missing),
      (e) => isRoamError(e, "not_found") && /entry: nope\.ts is not a file/.test(e.message),
    );
    const broken = await writePlugin(join(dir, "broken"), agentManifest({ entry: "main.ts" }), {
      "main.ts": 'export { gone } from "./does_not_exist.ts";\n',
    });
    await assert.rejects(
      () => packPlugin(broken),
      (e) =>
        isRoamError(e, "invalid_input") &&
        /^deno bundle failed: .*does_not_exist/.test(e.message),
    );
    await assert.rejects(
      () => packPlugin(broken, { outDir: broken + "/" }),
      (e) => isRoamError(e, "invalid_input") && /must not be the plugin dir itself/.test(e.message),
    );
    const fine = await writePlugin(join(dir, "fine"), agentManifest({ entry: "main.ts" }), {
      "main.ts": "export default class X {}\n",
    });
    await assert.rejects(
      () => packPlugin(fine, { deno: join(dir, "no-deno-here") }),
      (e) => isRoamError(e, "unavailable") && /packing needs the deno CLI/.test(e.message),
    );
    await assert.rejects(() => Deno.stat(join(fine, "dist", "bundle.cjs")));
  });
});

Deno.test("a bad plugin.json is refused, naming the file, the field and the problem", async () => {
  const cases: [string, unknown, RegExp][] = [
    ["not JSON", "{ name: echo", /: not valid JSON/],
    ["no name", { ...agentManifest(), name: undefined }, /: name: /],
    ["upper-case name", agentManifest({ name: "Echo" }), /: name: must be 1 to 64 lowercase/],
    ["name starting with a digit", agentManifest({ name: "1echo" }), /: name: /],
    ["name too long", agentManifest({ name: "a".repeat(65) }), /: name: /],
    ["two-part version", agentManifest({ version: "1.0" }), /: version: must be a semantic/],
    ["leading zero", agentManifest({ version: "01.0.0" }), /: version: /],
    ["build metadata", agentManifest({ version: "1.0.0+abc" }), /: version: /],
    ["unknown kind", { ...agentManifest(), kind: "tool" }, /: kind: must be "agent" or/],
    ["entry outside", agentManifest({ entry: "../x.ts" }), /: entry: must stay inside/],
    ["absolute entry", agentManifest({ entry: "/x.ts" }), /: entry: must be a relative path/],
    ["entry not code", agentManifest({ entry: "x.txt" }), /: entry: must be a \.ts/],
    ["long description", agentManifest({ description: "x".repeat(501) }), /: description: /],
    [
      "run",
      { ...agentManifest(), permissions: { run: ["ls"] } },
      /: permissions\.run: agents are never granted 'run'/,
    ],
    [
      "ffi",
      { ...agentManifest(), permissions: { ffi: true } },
      /: permissions\.ffi: agents are never granted 'ffi'/,
    ],
    [
      "sys",
      { ...agentManifest(), permissions: { sys: true } },
      /: permissions\.sys: agents are never granted 'sys'/,
    ],
    [
      "unknown permission",
      { ...agentManifest(), permissions: { gpu: true } },
      /: permissions\.gpu: unknown permission/,
    ],
    [
      "relative read",
      agentManifest({ permissions: { read: ["data"] } }),
      /: permissions\.read\.0: must be an absolute path/,
    ],
    [
      "url as host",
      agentManifest({ permissions: { net: ["https://x.org"] } }),
      /: permissions\.net\.0: must be a host or host:port/,
    ],
    [
      "bad env name",
      agentManifest({ permissions: { env: ["A-B"] } }),
      /: permissions\.env\.0: must be an environment variable name/,
    ],
    ["tiny memory", agentManifest({ resources: { memoryMb: 8 } }), /: resources\.memoryMb: /],
    [
      "unknown isolation",
      { ...agentManifest(), isolation: "thread" },
      /: isolation: must be "process", "shared"/,
    ],
    ["misspelt field", { ...agentManifest(), permisions: {} }, /: permisions: /],
    [
      "bad bundle hash",
      { ...agentManifest(), bundle: { file: "bundle.cjs", sha256: "abc" } },
      /: bundle\.sha256: must be 64/,
    ],
  ];
  await withTempDir(async (dir) => {
    for (const [what, manifest, pattern] of cases) {
      const plugin = await writePlugin(join(dir, what.replace(/\W/g, "-")), manifest);
      await assert.rejects(
        () => packPlugin(plugin),
        (e) => {
          assert.ok(isRoamError(e, "invalid_input"), `${what}: ${e}`);
          assert.match(e.message, new RegExp(`^plugin\\.json at ${plugin}/plugin\\.json`), what);
          assert.match(e.message, pattern, what);
          return true;
        },
      );
    }
  });
});

// --- installing through a host --------------------------------------------

Deno.test("plugin.add through a host installs once; the same bytes again are a no-op", async () => {
  const { manifest, code } = await packedEcho();
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  const first = await mesh.plugin.add({ manifest, code });
  const hash = sha256(code);
  assert.deepEqual(first, {
    name: "echo",
    version: "1.0.0",
    sha256: hash,
    size: new TextEncoder().encode(code).byteLength,
    installed: true,
  });
  const again = await mesh.plugin.add({ manifest, code });
  assert.equal(again.installed, false);
  // A source manifest (no bundle field) with the same code is the same install.
  const { bundle: _bundle, ...source } = manifest;
  assert.equal((await mesh.plugin.add({ manifest: source, code })).installed, false);

  const dir = join(t.dataDir, "plugins", hash);
  assert.equal(await Deno.readTextFile(join(dir, "bundle.cjs")), code);
  assert.equal(JSON.parse(await Deno.readTextFile(join(dir, "plugin.json"))).bundle.sha256, hash);
  assert.deepEqual([...Deno.readDirSync(join(t.dataDir, "plugins"))].map((e) => e.name), [hash]);

  const { plugins } = await mesh.plugin.list();
  assert.equal(plugins.length, 1);
  assert.equal(plugins[0].description, manifest.description);
  assert.deepEqual(plugins[0].requested, {
    read: ["/tmp/roam-echo-data"],
    write: [],
    net: ["example.org"],
    env: ["ECHO_GREETING"],
  });
  assert.deepEqual(plugins[0].granted, { read: [], write: [], net: [], env: [] });
  const { events } = await mesh.events.since({ since: 0, limit: 100, types: ["plugin."] });
  assert.deepEqual(events.map((e) => [e.type, e.subject, e.data.sha256]), [
    ["plugin.installed", "echo", hash],
  ]);
  await mesh.close();
});

Deno.test("plugin.add refuses a capability plugin, code that does not match its sha256, and new code under an installed version", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  const code = "module.exports = { default: class {} };\n";
  await assert.rejects(
    () => mesh.plugin.add({ manifest: { ...agentManifest(), kind: "capability" }, code }),
    (e) =>
      isRoamError(e, "invalid_input") &&
      /capability plugins come with the capability runtime/.test(e.message),
  );
  await assert.rejects(
    () =>
      mesh.plugin.add({
        manifest: { ...agentManifest(), bundle: { file: "bundle.cjs", sha256: sha256("other") } },
        code,
      }),
    (e) => isRoamError(e, "invalid_input") && /pack the plugin again/.test(e.message),
  );
  await assert.rejects(
    () => mesh.plugin.add({ manifest: { ...agentManifest(), permissions: { run: true } }, code }),
    (e) =>
      isRoamError(e, "invalid_input") &&
      /^the manifest sent to plugin\.add: permissions\.run: agents are never granted/.test(
        e.message,
      ),
  );
  await mesh.plugin.add({ manifest: { ...agentManifest() }, code });
  await assert.rejects(
    () => mesh.plugin.add({ manifest: { ...agentManifest() }, code: code + "// changed\n" }),
    (e) => isRoamError(e, "conflict") && /is installed already with other code/.test(e.message),
  );
  await mesh.close();
});

Deno.test("plugin.add takes a bundle of nearly 8 MiB within the host's default request limit", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  // Code-like text: its quotes and newlines grow it by 14% when JSON-escaped.
  const line = 'exports.v = "value";\n';
  const code = line.repeat(Math.floor((MAX_BUNDLE_BYTES - 64) / line.length));
  assert.ok(JSON.stringify(code).length > MAX_BUNDLE_BYTES * 1.13);
  const added = await mesh.plugin.add({ manifest: { ...agentManifest() }, code });
  assert.equal(added.size, code.length);
  assert.equal(added.sha256, sha256(code));
  await mesh.close();
});

Deno.test("plugin installs and grants survive a host restart", async () => {
  await withTempDir(async (dataDir) => {
    const code = "module.exports = {};\n";
    {
      await using t = await startTestHost({ dataDir });
      const mesh = await connect({ url: t.host.url, token: t.token });
      await mesh.plugin.add({ manifest: { ...agentManifest() }, code });
      await mesh.plugin.grant({ name: "echo", env: ["HOME"] });
      await mesh.close();
    }
    await using t = await startTestHost({ dataDir });
    const mesh = await connect({ url: t.host.url, token: t.token });
    const info = await mesh.plugin.info({ name: "echo" });
    assert.equal(info.sha256, sha256(code));
    assert.deepEqual(info.granted.env, ["HOME"]);
    await mesh.close();
  });
});

// --- the store ---------------------------------------------------------------

Deno.test("readCode returns the installed bytes and refuses a tampered or missing bundle", async () => {
  await withStore(async (store) => {
    const code = "module.exports = { default: class Echo {} }; // ünïcödé\n";
    const added = await store.add({ manifest: agentManifest(), code });
    assert.equal(await store.readCode(added), code);
    assert.equal(await store.readCode(store.get("echo")!), code);

    await Deno.writeTextFile(added.bundlePath, code.replace("Echo", "Evil"));
    await assert.rejects(
      () => store.readCode(added),
      (e) =>
        isRoamError(e, "unavailable") && e.data.tampered === true &&
        /does not match its recorded sha256/.test(e.message),
    );
    await Deno.writeFile(added.bundlePath, new Uint8Array([0xff, 0xfe, 0x00]));
    await assert.rejects(() => store.readCode(added), (e) => isRoamError(e, "unavailable"));
    await Deno.remove(added.bundlePath);
    await assert.rejects(
      () => store.readCode(added),
      (e) => isRoamError(e, "unavailable") && /cannot read the installed code/.test(e.message),
    );
    // Adding the same bytes again repairs the damaged install.
    assert.equal((await store.add({ manifest: agentManifest(), code })).installed, false);
    assert.equal(await store.readCode(added), code);
  });
});

Deno.test("the store refuses code over 8 MiB, counted in bytes", async () => {
  await withStore(async (store, { dataDir }) => {
    const code = "é".repeat(MAX_BUNDLE_BYTES / 2 + 1); // fewer characters than the limit, more bytes
    await assert.rejects(
      () => store.add({ manifest: agentManifest(), code }),
      (e) => isRoamError(e, "too_large") && /at most 8388608 \(8 MiB\)/.test(e.message),
    );
    assert.deepEqual(store.list(), []);
    await assert.rejects(() => Deno.stat(join(dataDir, "plugins", sha256(code))));
  });
});

Deno.test("two adds of the same bytes at once install once", async () => {
  await withStore(async (store, { events }) => {
    const input = { manifest: agentManifest(), code: "module.exports = {};\n" };
    const results = await Promise.all([store.add(input), store.add(input), store.add(input)]);
    assert.deepEqual(results.map((r) => r.installed), [true, false, false]);
    assert.deepEqual(eventTypes(events), ["plugin.installed"]);
  });
});

Deno.test("an install interrupted half-way leaves nothing under a hash name, and its temp dir is swept", async () => {
  await withStore(async (store, { dataDir }) => {
    const root = join(dataDir, "plugins");
    await Deno.mkdir(join(root, ".tmp-crashed"), { recursive: true });
    await Deno.writeTextFile(join(root, ".tmp-crashed", "bundle.cjs"), "half");
    await store.add({ manifest: agentManifest(), code: "module.exports = {};\n" });
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), [
      sha256("module.exports = {};\n"),
    ]);
  });
});

Deno.test("get picks the newest version by semver; remove deletes one version, keeps shared code, and drops grants with the last version", async () => {
  await withStore(async (store, { dataDir, events }) => {
    const shared = "module.exports = { v: 'shared' };\n";
    for (const [version, code] of [["1.2.0", shared], ["1.10.0", shared], ["1.9.0", "x;\n"]]) {
      await store.add({ manifest: agentManifest({ version }), code });
    }
    await store.add({ manifest: agentManifest({ name: "other" }), code: "y;\n" });
    assert.equal(store.get("echo")!.version, "1.10.0");
    assert.equal(store.get("echo", "1.2.0")!.sha256, sha256(shared));
    assert.equal(store.get("echo", "3.0.0"), undefined);
    assert.equal(store.get("nope"), undefined);
    assert.deepEqual(store.list().map((p) => `${p.name}@${p.version}`), [
      "echo@1.10.0",
      "echo@1.9.0",
      "echo@1.2.0",
      "other@1.0.0",
    ]);
    store.grant("echo", { env: ["HOME"] });

    const one = await store.remove("echo", "1.10.0");
    assert.deepEqual(one.removed.map((p) => p.version), ["1.10.0"]);
    assert.equal(one.grantsDropped, false);
    assert.ok((await Deno.stat(join(dataDir, "plugins", sha256(shared)))).isDirectory);
    assert.equal(store.get("echo")!.version, "1.9.0");

    const rest = await store.remove("echo");
    assert.deepEqual(rest.removed.map((p) => p.version).sort(), ["1.2.0", "1.9.0"]);
    assert.equal(rest.grantsDropped, true);
    assert.deepEqual(store.grantsFor("echo"), { read: [], write: [], net: [], env: [] });
    await assert.rejects(() => Deno.stat(join(dataDir, "plugins", sha256(shared))));
    assert.deepEqual([...Deno.readDirSync(join(dataDir, "plugins"))].map((e) => e.name), [
      sha256("y;\n"),
    ]);
    await assert.rejects(
      () => store.remove("echo"),
      (e) => isRoamError(e, "not_found") && /no plugin named echo/.test(e.message),
    );
    assert.deepEqual(eventTypes(events).filter((t) => t === "plugin.removed").length, 3);
  });
});

// --- grants ------------------------------------------------------------------

Deno.test("grants add up, replace replaces, revoke clears, and each change is in the event log", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  await mesh.plugin.add({
    manifest: {
      ...agentManifest(),
      permissions: { read: ["/data"], net: ["example.org"], env: ["HOME"] },
    },
    code: "module.exports = {};\n",
  });
  const first = await mesh.plugin.grant({ name: "echo", read: ["/data/models/"], env: ["HOME"] });
  assert.deepEqual(first.grants, { read: ["/data/models"], write: [], net: [], env: ["HOME"] });
  const second = await mesh.plugin.grant({
    name: "echo",
    read: ["/etc", "/data/models"],
    net: ["Example.org:443"],
  });
  assert.deepEqual(second.grants, {
    read: ["/data/models", "/etc"],
    write: [],
    net: ["example.org:443"],
    env: ["HOME"],
  });
  assert.deepEqual(second.unrequested, { read: ["/etc"], write: [], net: [], env: [] });

  const info = await mesh.plugin.info({ name: "echo" });
  assert.deepEqual(info.effective, {
    read: ["/data/models"],
    write: [],
    net: ["example.org:443"],
    env: ["HOME"],
  });
  assert.deepEqual(info.versions, ["1.0.0"]);

  const replaced = await mesh.plugin.grant({ name: "echo", replace: true, write: ["/out"] });
  assert.deepEqual(replaced.grants, { read: [], write: ["/out"], net: [], env: [] });
  assert.deepEqual(await mesh.plugin.revoke({ name: "echo" }), { name: "echo", revoked: true });
  assert.deepEqual(await mesh.plugin.revoke({ name: "echo" }), { name: "echo", revoked: false });
  const { plugins } = await mesh.plugin.list();
  assert.deepEqual(plugins[0].granted, { read: [], write: [], net: [], env: [] });

  const { events } = await mesh.events.since({ since: 0, limit: 100, types: ["plugin."] });
  assert.deepEqual(events.map((e) => e.type), [
    "plugin.installed",
    "plugin.granted",
    "plugin.granted",
    "plugin.granted",
    "plugin.revoked",
  ]);
  assert.deepEqual(events[3].data.replace, true);
  await mesh.close();
});

Deno.test("a grant needs an installed plugin and well-formed entries", async () => {
  await withStore(async (store) => {
    assert.throws(
      () => store.grant("ghost", { read: ["/data"] }),
      (e) => isRoamError(e, "not_found") && /no plugin named ghost/.test(e.message),
    );
    await store.add({ manifest: agentManifest(), code: "x;\n" });
    const refused: [Parameters<PluginStore["grant"]>[1], RegExp][] = [
      [{ read: ["relative/dir"] }, /^grant read\[0\]: must be an absolute path/],
      [{ net: ["https://example.org"] }, /^grant net\[0\]: must be a host or host:port/],
      [{ env: ["NOT OK"] }, /^grant env\[0\]: must be an environment variable name/],
    ];
    for (const [grants, pattern] of refused) {
      assert.throws(
        () => store.grant("echo", grants),
        (e) => isRoamError(e, "invalid_input") && pattern.test(e.message),
      );
    }
    for (let i = 0; i < 64; i++) store.grant("echo", { env: [`V${i}`] });
    assert.throws(
      () => store.grant("echo", { env: ["ONE_TOO_MANY"] }),
      (e) => isRoamError(e, "invalid_input") && /at most 64/.test(e.message),
    );
  });
});

Deno.test("effective permissions confine a real worker to what was both requested and granted", async () => {
  await withTempDir(async (dir) => {
    const allowed = join(dir, "allowed");
    const secret = join(dir, "secret.txt");
    await Deno.mkdir(allowed);
    await Deno.writeTextFile(secret, "not for agents");
    const permissions = effectivePermissions(
      { read: [dir], net: ["example.org"], env: ["HOME", "PATH"] },
      { read: [allowed, "/etc"], net: ["example.org:443", "other.org"], env: ["HOME"] },
    );
    const worker = new Worker(PROBE_WORKER, { type: "module", deno: { permissions } });
    try {
      const report = await new Promise<Record<string, string>>((resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(e.message));
        };
        worker.postMessage({
          read: [allowed, "/etc", dir],
          env: ["HOME", "PATH"],
          net: ["example.org:443", "example.org:80", "other.org:443"],
          readFile: secret,
        });
      });
      assert.deepEqual(report, {
        [`read ${allowed}`]: "granted",
        "read /etc": "prompt",
        [`read ${dir}`]: "prompt",
        "env HOME": "granted",
        "env PATH": "prompt",
        "net example.org:443": "granted",
        "net example.org:80": "prompt",
        "net other.org:443": "prompt",
        run: "prompt",
        ffi: "prompt",
        sys: "prompt",
        write: "prompt",
        readFile: "NotCapable",
      });
    } finally {
      worker.terminate();
    }
  });
});

// --- the CLI -------------------------------------------------------------------

Deno.test("the CLI packs, adds, lists, grants, shows, revokes and removes a plugin against a roam host", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-cli-plugins-" });
  const host = new CliProcess(["--data-dir", dataDir, "host", "--port", "0", "--name", "p"]);
  try {
    await host.waitFor(/listening on/);
    const cli = (...args: string[]) => roam(["--data-dir", dataDir, ...args]);
    const out = join(dataDir, "packed");

    const pack = await cli("plugin", "pack", ECHO_DIR, "-o", out);
    assert.equal(pack.code, 0, pack.stderr);
    const hash = sha256(await Deno.readFile(join(out, "bundle.cjs")));
    assert.match(pack.stdout, new RegExp(`^sha256\\s+${hash}$`, "m"));
    assert.match(pack.stdout, /^size\s+[\d.]+ KiB \(\d+ bytes\)$/m);

    const add = await cli("plugin", "add", out);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(`^installed echo 1\\.0\\.0 \\(sha256 ${hash}`));
    assert.match(add.stdout, /roam plugin grant echo --read \/tmp\/roam-echo-data/);
    const again = await cli("plugin", "add", ECHO_DIR); // from source: packed on the fly
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /is installed already with the same code/);

    const table = await cli("plugin", "list");
    assert.match(table.stdout, /^NAME\s+VERSION\s+SIZE\s+SHA256\s+REQUESTED\s+GRANTED/m);
    assert.match(table.stdout, new RegExp(`^echo\\s+1\\.0\\.0\\s+.*${hash.slice(0, 12)}`, "m"));
    const list = JSON.parse((await cli("--json", "plugin", "list")).stdout);
    assert.deepEqual(list.map((p: { name: string }) => p.name), ["echo"]);

    const grant = await cli(
      "plugin",
      "grant",
      "echo",
      "--read",
      "/tmp/roam-echo-data/in",
      "--read",
      "relative/dir",
      "--net",
      "example.org:443",
      "--env",
      "ECHO_GREETING",
    );
    assert.equal(grant.code, 0, grant.stderr);
    const relative = join(Deno.cwd(), "relative/dir");
    assert.match(grant.stdout, /^echo is granted read /);
    assert.match(
      grant.stderr,
      new RegExp(`no installed version of echo requests read ${relative}`),
    );
    const info = JSON.parse((await cli("plugin", "info", "echo", "--json")).stdout);
    assert.deepEqual(info.granted.read, ["/tmp/roam-echo-data/in", relative].sort());
    assert.deepEqual(info.effective, {
      read: ["/tmp/roam-echo-data/in"],
      write: [],
      net: ["example.org:443"],
      env: ["ECHO_GREETING"],
    });
    const text = await cli("plugin", "info", "echo@1.0.0");
    assert.match(text.stdout, /^effective\s+read \/tmp\/roam-echo-data\/in; net example\.org:443/m);

    const revoke = await cli("plugin", "revoke", "echo");
    assert.equal(revoke.stdout.trim(), "revoked every grant of echo");
    const remove = await cli("plugin", "remove", "echo");
    assert.equal(remove.code, 0, remove.stderr);
    assert.equal(remove.stdout.trim(), "removed echo 1.0.0");
    assert.match((await cli("plugin", "list")).stdout, /^no plugins installed/);
  } finally {
    await host.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("plugin CLI errors are one line with a usage or failure status", async () => {
  await withTempDir(async (dir) => {
    const bad = await writePlugin(join(dir, "bad"), {
      ...agentManifest(),
      permissions: { run: ["sh"] },
    });
    const home = { HOME: dir };
    const cases: [string[], number, RegExp][] = [
      [
        ["plugin", "pack", bad],
        2,
        /^roam: plugin\.json at .*: permissions\.run: agents are never granted 'run'/,
      ],
      [["plugin", "pack", join(dir, "none")], 1, /^roam: no plugin\.json in /],
      [["plugin", "grant", "echo"], 2, /^roam: give at least one of --read/],
      [["plugin", "info", "echo@"], 2, /^roam: expected NAME or NAME@VERSION/],
      [
        ["--host", "http://127.0.0.1:9", "--token", "x", "plugin", "list"],
        1,
        /^roam: cannot reach a roam host/,
      ],
    ];
    for (const [args, code, pattern] of cases) {
      const result = await roam(args, home);
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr.trim(), pattern);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    }
    const help = await roam(["plugin", "--help"]);
    assert.match(help.stdout, /Examples:/);
    for (const sub of ["pack", "add", "list", "info", "grant", "revoke", "remove"]) {
      assert.match(help.stdout, new RegExp(`^\\s+${sub}\\b`, "m"));
    }
  });
});
