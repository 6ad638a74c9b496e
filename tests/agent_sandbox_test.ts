/**
 * The agent sandbox on a real host, seen from inside by the `sandbox-probe`
 * plugin: what an agent may touch is exactly what the operator granted (and
 * the plugin asked for), `run`, `ffi` and `sys` are never given, roam's data
 * dir cannot be granted, and no agent can load code at run time.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { connect, type Roam } from "../mod.ts";
import { packPlugin } from "../src/plugins/mod.ts";
import { failure } from "./support/agents.ts";
import { startTestHost, type TestHost } from "./support/host.ts";

const PROBE_DIR = new URL("../plugins/sandbox-probe", import.meta.url).pathname;

type Outcome = { allowed: boolean; error?: string };
type Report = Record<string, Outcome>;

/** What the runtime never gives an agent, or gives only when granted. */
const OS_CAPABILITIES = ["read", "write", "net", "run", "env", "ffi", "sys"];
/** Ways of turning a string into code, each sealed by the worker runtime. */
const CODE_FROM_STRINGS = [
  "eval",
  "function",
  "asyncFunction",
  "stringTimer",
  "worker",
  "capturedFunction",
  "capturedEval",
];
const NOT_CAPABLE = /^NotCapable: /;
const SEALED = /^AgentError: agents may not use /;

let probePack: Promise<{ manifest: Record<string, unknown>; code: string }> | undefined;

/** Install sandbox-probe (packed once per test module) over RPC. */
async function installProbe(mesh: Roam): Promise<void> {
  probePack ??= (async () => {
    const outDir = await Deno.makeTempDir({ prefix: "roam-pack-" });
    try {
      const done = await packPlugin(PROBE_DIR, { outDir });
      return { manifest: done.manifest, code: await Deno.readTextFile(done.bundlePath) };
    } finally {
      await Deno.remove(outDir, { recursive: true });
    }
  })();
  await mesh.plugin.add(await probePack);
}

/** Run one probe in agent `id`. */
async function probe(mesh: Roam, id: string, args: Record<string, string>): Promise<Report> {
  return (await mesh.agent.send({ id, kind: "probe", args })).reply as Report;
}

/** A test host with a client and a scratch dir for the test's own files; all closed by `using`. */
async function setUp(): Promise<{ t: TestHost; mesh: Roam; work: string } & AsyncDisposable> {
  const t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  const work = await Deno.makeTempDir({ prefix: "roam-sandbox-" });
  return {
    t,
    mesh,
    work,
    async [Symbol.asyncDispose]() {
      await mesh.close();
      await t.dispose();
      await Deno.remove(work, { recursive: true });
    },
  };
}

/** A loopback TCP listener nobody answers on: enough for a connect to go through. */
function listen(): Deno.TcpListener {
  return Deno.listen({ hostname: "127.0.0.1", port: 0 });
}

Deno.test("an agent without grants is denied read, write, net, run, env, ffi and sys, and cannot load code at run time", async () => {
  await using s = await setUp();
  const { mesh, work } = s;
  using listener = listen();
  await installProbe(mesh);
  await Deno.writeTextFile(join(work, "readable.txt"), "secret");
  const { id } = await mesh.agent.create({ plugin: "sandbox-probe" });

  const report = await probe(mesh, id, {
    read: join(work, "readable.txt"),
    write: join(work, "written.txt"),
    net: `127.0.0.1:${listener.addr.port}`,
    env: "ROAM_PROBE",
  });
  for (const capability of OS_CAPABILITIES) {
    assert.equal(report[capability].allowed, false, capability);
    assert.match(report[capability].error ?? "", NOT_CAPABLE, capability);
  }
  for (const way of CODE_FROM_STRINGS) {
    assert.equal(report[way].allowed, false, way);
    assert.match(report[way].error ?? "", SEALED, way);
  }
  // The module file went into the agent's own scratch dir; loading it is what failed.
  assert.equal(report.import.allowed, false);
  assert.match(report.import.error ?? "", /every route failed: AgentError: agents may not use/);
  await assert.rejects(Deno.stat(join(work, "written.txt")), Deno.errors.NotFound);
});

Deno.test("an exact-path grant gives that path and nothing beside it; run, ffi and sys stay denied", async () => {
  await using s = await setUp();
  const { mesh, work } = s;
  using granted = listen();
  using other = listen();
  await installProbe(mesh);
  await Deno.writeTextFile(join(work, "allowed.txt"), "for the agent");
  await Deno.writeTextFile(join(work, "beside.txt"), "not for the agent");

  const grant = await mesh.plugin.grant({
    name: "sandbox-probe",
    read: [join(work, "allowed.txt")],
    write: [join(work, "out.txt")],
    net: [`127.0.0.1:${granted.addr.port}`],
    env: ["ROAM_PROBE"],
  });
  assert.deepEqual(grant.unrequested, { read: [], write: [], net: [], env: [] });
  const { id } = await mesh.agent.create({ plugin: "sandbox-probe" });

  const inside = await probe(mesh, id, {
    read: join(work, "allowed.txt"),
    write: join(work, "out.txt"),
    net: `127.0.0.1:${granted.addr.port}`,
    env: "ROAM_PROBE",
  });
  for (const capability of ["read", "write", "net", "env"]) {
    assert.deepEqual(inside[capability], { allowed: true }, capability);
  }
  assert.equal(await Deno.readTextFile(join(work, "out.txt")), "written by sandbox-probe\n");
  for (const capability of ["run", "ffi", "sys"]) {
    assert.equal(inside[capability].allowed, false, capability);
    assert.match(inside[capability].error ?? "", NOT_CAPABLE, capability);
  }

  const beside = await probe(mesh, id, {
    read: join(work, "beside.txt"),
    write: join(work, "beside-out.txt"),
    net: `127.0.0.1:${other.addr.port}`,
    env: "HOME",
  });
  for (const capability of OS_CAPABILITIES) {
    assert.equal(beside[capability].allowed, false, capability);
    assert.match(beside[capability].error ?? "", NOT_CAPABLE, capability);
  }
  // The dir that holds the granted file is not granted either.
  const dir = await probe(mesh, id, { read: work, write: join(work, "sub", "x.txt") });
  assert.match(dir.read.error ?? "", NOT_CAPABLE);
  assert.match(dir.write.error ?? "", NOT_CAPABLE);
});

Deno.test("a grant that covers roam's data dir is refused; run, ffi and sys cannot be asked for or granted", async () => {
  await using s = await setUp();
  const { mesh, t } = s;
  await installProbe(mesh);

  for (const grant of [{ read: [dirname(t.dataDir)] }, { write: [join(t.dataDir, "secret")] }]) {
    await mesh.plugin.grant({ name: "sandbox-probe", replace: true, ...grant });
    const refused = await failure(mesh.agent.create({ plugin: "sandbox-probe" }));
    assert.equal(refused.code, "forbidden", JSON.stringify(grant));
    assert.match(refused.message, /data dir/);
  }
  await mesh.plugin.revoke({ name: "sandbox-probe" });
  await mesh.agent.create({ plugin: "sandbox-probe" });

  const granting = await failure(
    mesh.plugin.grant({ name: "sandbox-probe", run: ["/bin/sh"] } as never),
  );
  assert.equal(granting.code, "invalid_params");
  const { manifest, code } = await probePack!;
  for (const key of ["run", "ffi", "sys", "import"]) {
    const asking = await failure(mesh.plugin.add({
      manifest: { ...manifest, name: `asks-${key}`, permissions: { [key]: true } },
      code,
    }));
    assert.equal(asking.code, "invalid_input", key);
    assert.match(asking.message, new RegExp(`never granted '${key}'`));
  }
});

Deno.test("a bundle that would load code at run time is refused at create with forbidden", async () => {
  await using s = await setUp();
  const { mesh } = s;
  const bodies = {
    "dynamic-import": 'handleMessage() { return import("file:///etc/passwd"); }',
    "import-meta": "handleMessage() { return import.meta.url; }",
    "nested-worker": 'handleMessage() { return new Worker("data:text/javascript,1"); }',
  };
  for (const [name, body] of Object.entries(bodies)) {
    await mesh.plugin.add({
      manifest: {
        name,
        version: "0.1.0",
        kind: "agent",
        entry: "agent.js",
        description: "loads code at run time",
      },
      code: `const { Agent } = require("@roam/agent");\n` +
        `module.exports.default = class extends Agent { ${body} };\n`,
    });
    const refused = await failure(mesh.agent.create({ plugin: name }));
    assert.equal(refused.code, "forbidden", name);
    assert.match(refused.message, /may not load code at run time/);
  }
  assert.deepEqual((await mesh.agent.list()).agents, []);
});

Deno.test("an agent granted the network still cannot load code from it", async () => {
  await using s = await setUp();
  const { mesh } = s;
  const asked: string[] = [];
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    asked.push(new URL(req.url).pathname);
    return new Response("export default 42;\n", {
      headers: { "content-type": "application/javascript" },
    });
  });
  await installProbe(mesh);
  const where = `127.0.0.1:${server.addr.port}`;
  await mesh.plugin.grant({ name: "sandbox-probe", net: [where] });
  const { id } = await mesh.agent.create({ plugin: "sandbox-probe" });

  const report = await probe(mesh, id, { net: where, module: `http://${where}/mod.js` });
  assert.deepEqual(report.net, { allowed: true });
  assert.equal(report.import.allowed, false);
  assert.match(report.import.error ?? "", /every route failed: AgentError: agents may not use/);
  assert.deepEqual(asked, []);
});
