/**
 * The job queue inside a host, on a fake capability runtime: the RPC methods,
 * progress over a WebSocket, the CLI, an agent calling a capability through
 * its context, and jobs forwarded between two loopback hosts of one mesh.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { capability, isRoamError } from "../mod.ts";
import {
  type FakeCapability,
  fakeFailure,
  FakeProbe,
  FakeRuntime,
  gate,
} from "../src/capabilities/queue_fake.ts";
import { RpcWsClient } from "../src/rpc/mod.ts";
import { ask, hostWithClient, installPluginDir } from "./support/agents.ts";
import { roam } from "./support/cli.ts";
import { within } from "./support/wait.ts";

const CAPCALLER = new URL("./fixtures/plugins/capcaller", import.meta.url).pathname;

function fakes(capabilities: FakeCapability[]) {
  return {
    runtime: new FakeRuntime(capabilities),
    probe: new FakeProbe({ ramTotalMb: 32_000, ramAvailableMb: 30_000 }),
  };
}

Deno.test("job RPC: submit, get with its journal, wait, list, cancel, and capability.call with the job's error", async () => {
  const hold = gate();
  const jobs = fakes([
    {
      name: "echo",
      methods: ["echo", "slow"],
      handler: (c) => c.method === "slow" ? hold.promise : c.args,
    },
    { name: "flaky", handler: () => Promise.reject(fakeFailure("transient", "worker died")) },
  ]);
  await using h = await hostWithClient({}, { jobs });
  const { mesh } = h;

  const job = await mesh.job.submit({ capability: "echo", method: "echo", args: { x: 1 } });
  const done = await mesh.job.wait({ id: job.id, timeoutMs: 5_000 });
  assert.equal(done.status, "succeeded");
  assert.deepEqual(done.result, { x: 1 });
  const got = await mesh.job.get({ id: job.id, journal: true });
  assert.deepEqual(got.journal?.map((e) => e.event), [
    "submitted",
    "admitted",
    "attempt_started",
    "attempt_ended",
    "finished",
  ]);

  const called = await mesh.capability.call({ capability: "echo", method: "echo", args: [1, 2] });
  assert.deepEqual(called.result, [1, 2]);
  assert.equal(called.host, null);
  assert.equal((await mesh.job.get({ id: called.jobId })).status, "succeeded");
  assert.deepEqual(await capability(mesh, "echo").call("echo", "hi"), "hi");

  await assert.rejects(
    mesh.capability.call({ capability: "flaky", method: "x" }),
    (e) =>
      isRoamError(e, "crashed") && e.data.category === "transient" && e.data.attempts === 2 &&
      typeof e.data.jobId === "string",
  );

  const slow = await mesh.job.submit({ capability: "echo", method: "slow" });
  const queued = await mesh.job.submit({ capability: "echo", method: "echo", priority: 50 });
  const waiting = await mesh.job.get({ id: queued.id });
  assert.equal(waiting.status, "queued");
  assert.equal(waiting.position, 1);
  assert.match(waiting.reason ?? "", /free call slot/);
  assert.equal((await mesh.job.cancel({ id: queued.id })).status, "cancelled");
  assert.equal((await mesh.job.cancel({ id: slow.id })).status, "cancelled");
  const listed = await mesh.job.list({ status: "cancelled" });
  assert.deepEqual(listed.jobs.map((j) => j.id).sort(), [queued.id, slow.id].sort());
  await assert.rejects(
    mesh.job.get({ id: "nope" }),
    (e) => isRoamError(e, "not_found") && /roam jobs ls/.test(e.message),
  );
  hold.open();
});

Deno.test("capability.call over a WebSocket streams progress as job.progress notifications", async () => {
  const jobs = fakes([{
    name: "counter",
    handler: (c) => {
      for (let i = 1; i <= 3; i++) c.progress({ fraction: i / 3, message: `step ${i}` });
      return "counted";
    },
  }]);
  await using h = await hostWithClient({}, { jobs });
  const ws = await RpcWsClient.connect({ url: h.t.host.url, token: h.t.token });
  try {
    const heard: unknown[] = [];
    ws.on("job.progress", (p) => heard.push(p));
    const reply = await ws.call("capability.call", { capability: "counter", method: "count" }) as {
      jobId: string;
      result: unknown;
    };
    assert.equal(reply.result, "counted");
    assert.deepEqual(heard.map((p) => (p as { message: string }).message), [
      "step 1",
      "step 2",
      "step 3",
    ]);
    assert.ok(heard.every((p) => (p as { jobId: string }).jobId === reply.jobId));
  } finally {
    await ws.close();
  }
});

Deno.test("roam cap call and roam jobs: submit, ls, get, wait, cancel", async () => {
  const hold = gate();
  const jobs = fakes([
    { name: "echo", handler: (c) => c.method === "slow" ? hold.promise : c.args },
  ]);
  await using h = await hostWithClient({}, { jobs });
  const dir = ["--data-dir", h.t.dataDir];
  const called = await roam([...dir, "cap", "call", "echo", "echo", '{"a":1}']);
  assert.equal(called.code, 0, called.stderr);
  assert.deepEqual(JSON.parse(called.stdout), { a: 1 });
  const bad = await roam([...dir, "cap", "call", "echo", "echo", "{nope"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^roam: args are not valid JSON/);

  const submitted = await roam([
    ...dir,
    "--json",
    "jobs",
    "submit",
    "echo",
    "slow",
    "--priority",
    "7",
  ]);
  assert.equal(submitted.code, 0, submitted.stderr);
  const slowId = JSON.parse(submitted.stdout).id as string;
  const queued = await roam([...dir, "jobs", "submit", "echo", "echo", "[2]"]);
  assert.equal(queued.code, 0, queued.stderr);
  assert.match(
    queued.stdout,
    /^job [0-9a-f-]{36} queued \(position 1: waiting for a free call slot/,
  );
  const queuedId = queued.stdout.split(" ")[1];

  const ls = await roam([...dir, "jobs", "ls"]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^ID\s+CAPABILITY\s+METHOD\s+PRIORITY\s+STATUS/);
  assert.ok(ls.stdout.includes(slowId.slice(0, 8)));

  const get = await roam([...dir, "jobs", "get", queuedId.slice(0, 8)]);
  assert.equal(get.code, 0, get.stderr);
  assert.match(get.stdout, /status\s+queued/);
  assert.match(get.stdout, /waiting\s+position 1: waiting for a free call slot/);

  const cancelled = await roam([...dir, "jobs", "cancel", slowId]);
  assert.equal(cancelled.code, 0, cancelled.stderr);
  assert.match(cancelled.stdout, /cancelled/);
  const waited = await roam([...dir, "--json", "jobs", "wait", queuedId, "--timeout", "10s"]);
  assert.equal(waited.code, 0, waited.stderr);
  assert.deepEqual(JSON.parse(waited.stdout).result, [2]);
  const resources = await roam([...dir, "jobs", "resources"]);
  assert.equal(resources.code, 0, resources.stderr);
  assert.match(resources.stdout, /^POOL\s+TOTAL\s+OUTSIDE ROAM/);
  assert.match(resources.stdout, /\nRAM\s+32000 MB\s+\d+ MB\s+512 MB/);
  assert.match(resources.stdout, /echo-\d+\s+(busy|idle)\s+\d\/1/);
  const missing = await roam([...dir, "jobs", "get", "nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^roam: no job nope/);
  hold.open();
});

Deno.test("an agent calls a capability through ctx.capability(name).call, and sees its typed errors", async () => {
  const jobs = fakes([
    { name: "echo", handler: (c) => ({ echoed: c.args }) },
    { name: "picky", handler: () => Promise.reject(fakeFailure("user_input", "bad image")) },
  ]);
  await using h = await hostWithClient({}, { jobs });
  await installPluginDir(h.mesh, CAPCALLER);
  const { id } = await h.mesh.agent.create({ plugin: "capcaller" });
  assert.deepEqual(
    await ask(h.mesh, id, "call", { capability: "echo", method: "echo", args: { n: 7 } }),
    { ok: { echoed: { n: 7 } } },
  );
  const failed = await ask(h.mesh, id, "call", { capability: "picky", method: "x" }) as Record<
    string,
    unknown
  >;
  assert.equal(failed.error, "invalid_input");
  assert.equal(failed.category, "user_input");
  const missing = await ask(h.mesh, id, "call", { capability: "nothing", method: "x" }) as Record<
    string,
    unknown
  >;
  assert.equal(missing.error, "not_found");
  const [job] = (await h.mesh.job.list({ capability: "echo" })).jobs;
  assert.equal(job.status, "succeeded");
  const journal = (await h.mesh.job.get({ id: job.id, journal: true })).journal!;
  assert.equal(journal[0].data.by, `agent:${id}`);
});

Deno.test("a job runs on another host of the mesh: by name with 'to', and by itself when this host lacks the capability", async () => {
  const root = await Deno.makeTempDir({ prefix: "roam-jobs-mesh-" });
  try {
    const secretFile = join(root, "secret");
    const alphaBusy = gate();
    await using a = await hostWithClient(
      { name: "alpha", secretFile, dataDir: join(root, "a") },
      {
        jobs: fakes([
          { name: "local-only" },
          { name: "shared", handler: () => alphaBusy.promise },
          // Installed here too, but alpha has no GPU: it can never run here.
          { name: "gpu-echo", resources: { gpu: true, vramMb: 1_000 } },
        ]),
      },
    );
    const betaSlow = gate();
    const betaProgressSeen = gate();
    const gpu = fakes([
      {
        name: "gpu-echo",
        resources: { gpu: true, vramMb: 1_000 },
        handler: async (c) => {
          if (c.method === "slow") return await betaSlow.promise;
          if (c.method === "progress") {
            c.progress({ fraction: 0.5, message: "half way" });
            await betaProgressSeen.promise;
            return "done";
          }
          return { on: "beta", args: c.args };
        },
      },
      { name: "shared", handler: () => "beta" },
    ]);
    gpu.probe.system.gpus = [{ index: 0, name: "Fake GPU", totalMb: 16_000, usedMb: 0 }];
    await using b = await hostWithClient({
      name: "beta",
      secretFile,
      dataDir: join(root, "b"),
      mesh: { peers: [a.t.host.url] },
    }, { jobs: gpu });
    await within(10_000, "alpha sees beta", a.mesh.mesh.wait({ host: "beta", timeoutMs: 10_000 }));

    // alpha could never run gpu-echo (no GPU): it asks its peers and beta runs it.
    const auto = await a.mesh.job.submit({ capability: "gpu-echo", method: "run", args: 1 });
    assert.equal(auto.host, "beta");
    assert.ok(auto.remoteId);
    const done = await a.mesh.job.wait({ id: auto.id, timeoutMs: 10_000 });
    assert.equal(done.status, "succeeded");
    assert.deepEqual(done.result, { on: "beta", args: 1 });
    assert.equal((await b.mesh.job.get({ id: auto.remoteId! })).status, "succeeded");
    const journal = (await a.mesh.job.get({ id: auto.id, journal: true })).journal!;
    assert.deepEqual(journal.map((e) => e.event), ["forwarded", "finished"]);

    // Explicitly by name, in one step.
    const called = await a.mesh.capability.call({
      capability: "gpu-echo",
      method: "run",
      args: 2,
      to: "beta",
    });
    assert.equal(called.host, "beta");
    assert.deepEqual(called.result, { on: "beta", args: 2 });

    // To a host that cannot run it: its error, naming it; to an unknown host: not_found.
    await assert.rejects(
      b.mesh.job.submit({ capability: "gpu-echo", method: "run", to: "alpha" }),
      (e) =>
        isRoamError(e, "quota_exceeded") &&
        /^host alpha: gpu-echo needs a GPU and this host has none/.test(e.message),
    );
    await assert.rejects(
      a.mesh.job.submit({ capability: "shared", method: "x", to: "gamma" }),
      (e) => isRoamError(e, "not_found") && /no host named "gamma"/.test(e.message),
    );
    // Nobody has it: the error says what each peer answered.
    await assert.rejects(
      a.mesh.job.submit({ capability: "nowhere", method: "run" }),
      (e) =>
        isRoamError(e, "not_found") &&
        /no other host can run it either \(beta: nowhere is not installed\)/.test(e.message),
    );
    // A job that would wait here while a peer could start it now runs there.
    const first = await a.mesh.job.submit({ capability: "shared", method: "x" });
    assert.equal(first.host, null);
    assert.equal(first.status, "running");
    const second = await a.mesh.capability.call({ capability: "shared", method: "x" });
    assert.deepEqual([second.host, second.result], ["beta", "beta"]);
    alphaBusy.open();
    assert.equal((await a.mesh.job.wait({ id: first.id, timeoutMs: 5_000 })).status, "succeeded");

    // Progress of a forwarded call reaches a WebSocket caller here.
    const ws = await RpcWsClient.connect({ url: a.t.host.url, token: a.t.token });
    try {
      const heard: string[] = [];
      ws.on("job.progress", (p) => {
        heard.push((p as { message: string }).message);
        betaProgressSeen.open();
      });
      const reply = await ws.call("capability.call", {
        capability: "gpu-echo",
        method: "progress",
        to: "beta",
      }) as { host: string; result: unknown };
      assert.deepEqual([reply.host, reply.result], ["beta", "done"]);
      assert.deepEqual(heard, ["half way"]);
    } finally {
      await ws.close();
    }

    // Cancelled from here, it stops there.
    const slow = await a.mesh.job.submit({ capability: "gpu-echo", method: "slow", to: "beta" });
    const cancelled = await a.mesh.job.cancel({ id: slow.id });
    assert.equal(cancelled.status, "cancelled");
    assert.equal((await b.mesh.job.get({ id: slow.remoteId! })).status, "cancelled");
    betaSlow.open();

    // 'local' never forwards.
    await assert.rejects(
      a.mesh.job.submit({ capability: "gpu-echo", method: "run", local: true }),
      (e) => isRoamError(e, "quota_exceeded"),
    );
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("queued jobs survive a host restart and run when it is back", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-jobs-restart-" });
  try {
    const hold = gate();
    const first = fakes([{
      name: "echo",
      handler: (c) => c.method === "slow" ? hold.promise : c.args,
    }]);
    let ids: string[];
    {
      await using h = await hostWithClient({ dataDir }, { jobs: first });
      const slow = await h.mesh.job.submit({ capability: "echo", method: "slow" });
      await within(
        5_000,
        "slow running",
        (async () => {
          while ((await h.mesh.job.get({ id: slow.id })).status !== "running") {
            await new Promise((r) => setTimeout(r, 5));
          }
        })(),
      );
      const later = await h.mesh.job.submit({ capability: "echo", method: "echo", args: "later" });
      ids = [slow.id, later.id];
    }
    hold.open();
    await using h = await hostWithClient({ dataDir }, {
      jobs: fakes([{ name: "echo", handler: (c) => c.args }]),
    });
    const interrupted = await h.mesh.job.get({ id: ids[0] });
    assert.equal(interrupted.status, "failed");
    assert.match(interrupted.error!.message, /interrupted: the host stopped/);
    const resumed = await h.mesh.job.wait({ id: ids[1], timeoutMs: 5_000 });
    assert.equal(resumed.status, "succeeded");
    assert.equal(resumed.result, "later");
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("examples/capability_call.ts calls a capability with plain deno run permissions", async () => {
  await using h = await hostWithClient({ name: "example" }, {
    jobs: fakes([{ name: "echo", handler: (c) => ({ echoed: c.args }) }]),
  });
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-read=${h.t.dataDir}`,
      "--allow-env",
      new URL("../examples/capability_call.ts", import.meta.url).pathname,
      "echo",
      "echo",
      '{"x":1}',
    ],
    env: { ROAM_DATA_DIR: h.t.dataDir, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(stdout, /^echo\.echo -> \{"echoed":\{"x":1\}\} \(\d+ ms\)$/m);
  assert.match(stdout, /^ {2}[0-9a-f]{8} echo\.echo succeeded$/m);
});
