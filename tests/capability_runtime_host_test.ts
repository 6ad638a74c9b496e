/**
 * The capability runtime inside a host: the capability.* methods, the CLI,
 * and no worker left behind after the host is killed with SIGKILL.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { connect } from "../mod.ts";
import { CliProcess, roam } from "./support/cli.ts";
import { startTestHost } from "./support/host.ts";
import { within } from "./support/wait.ts";

const PLUGINS = new URL("../plugins/", import.meta.url).pathname;
/** What a host process needs to find python3 and setsid. */
const ENV = {
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  HOME: Deno.env.get("HOME") ?? "/root",
};

function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") pids.push(Number(entry.name));
    } catch {
      // gone
    }
  }
  return pids;
}

Deno.test("capability.* over RPC: add, list, start, instances, logs, stop", async () => {
  await using t = await startTestHost({ capabilities: { timings: { stopGraceMs: 1_000 } } });
  const mesh = await connect({ url: t.host.url, token: t.token });
  const added = await mesh.capability.add({ dir: join(PLUGINS, "echo-py") });
  assert.deepEqual([added.name, added.replaced], ["echo-py", false]);
  assert.equal((await mesh.capability.add({ dir: join(PLUGINS, "echo-py") })).replaced, true);
  const { capabilities } = await mesh.capability.list();
  assert.deepEqual(capabilities.map((c) => [c.name, c.environment, c.instances]), [[
    "echo-py",
    "system",
    0,
  ]]);
  const started = await mesh.capability.start({ name: "echo-py", config: { prefix: "p" } });
  assert.ok(started.pid > 0 && started.ramMb > 0);
  const again = await mesh.capability.start({ name: "echo-py", config: { prefix: "p" } });
  assert.equal(again.id, started.id);
  const info = await mesh.capability.info({ name: "echo-py" });
  assert.ok(info.methods.includes("echo"));
  assert.deepEqual(info.running.map((i) => i.id), [started.id]);
  const { instances } = await mesh.capability.instances({});
  assert.equal(instances.length, 1);
  const { stopped } = await mesh.capability.stop({ target: started.id });
  assert.deepEqual(stopped, [started.id]);
  const logs = await mesh.capability.logs({ name: "echo-py", lines: 20 });
  assert.match(logs.files[0].lines.join("\n"), /stopping: stopped by request/);
  await assert.rejects(mesh.capability.start({ name: "nope" }), /no capability named nope/);
  await mesh.capability.start({ name: "echo-py" });
  const removed = await mesh.capability.remove({ name: "echo-py" });
  assert.equal(removed.removed, true);
  assert.equal(removed.stopped.length, 1);
  assert.deepEqual((await mesh.capability.list()).capabilities, []);
  assert.equal((await mesh.capability.remove({ name: "echo-py" })).removed, false);
  await assert.rejects(mesh.capability.stop({ target: "nope" }), /no running instance/);
  const events = await mesh.events.since({ since: 0, types: ["capability."] });
  const types = events.events.map((e) => e.type);
  for (
    const type of [
      "capability.installed",
      "capability.instance_started",
      "capability.instance_stopped",
      "capability.removed",
    ]
  ) {
    assert.ok(types.includes(type), `${type} in ${types.join(", ")}`);
  }
  await mesh.close();
});

Deno.test("no worker process outlives a host killed with SIGKILL", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-caps-kill-" });
  const host = new CliProcess(["host", "--port", "0", "--data-dir", dataDir], ENV);
  try {
    await host.waitFor(/listening on/);
    const cli = (...args: string[]) => roam(["--data-dir", dataDir, "--json", ...args], ENV);
    const add = await cli("cap", "add", join(PLUGINS, "echo-py"));
    assert.equal(add.code, 0, add.stderr);
    const start = await cli("cap", "start", "echo-py", "--config", '{"grandchild": true}');
    assert.equal(start.code, 0, start.stderr);
    const { pid } = JSON.parse(start.stdout) as { pid: number };
    const group = groupPids(pid);
    // The worker, its watchdog and the grandchild it started.
    assert.ok(group.length >= 3, `group ${pid}: ${group.join(", ")}`);
    assert.equal((await host.stop("SIGKILL")).signal, "SIGKILL");
    await within(
      8_000,
      `every process of group ${pid} to exit`,
      (async () => {
        while (groupPids(pid).length > 0) await new Promise((r) => setTimeout(r, 50));
      })(),
    );
  } finally {
    await host.stop("SIGKILL");
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("roam cap start shows the environment's creation as it happens (STAND-IN conda)", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-caps-progress-" });
  const fakeConda = new URL("./fixtures/fake-conda/micromamba", import.meta.url).pathname;
  const host = new CliProcess(["host", "--port", "0", "--data-dir", dataDir], {
    ...ENV,
    MAMBA_EXE: fakeConda,
  });
  try {
    await host.waitFor(/listening on/);
    const cli = (...args: string[]) => roam(["--data-dir", dataDir, ...args], ENV);
    const fixture = new URL("./fixtures/cap-conda", import.meta.url).pathname;
    assert.equal((await cli("cap", "add", fixture)).code, 0);
    const start = await cli("cap", "start", "conda-echo");
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /conda-echo-\w+ ready/);
    assert.match(start.stderr, /conda-echo: stand-in conda: done/);
  } finally {
    await host.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("roam cap: list, start, instances, logs and stop from the command line", async () => {
  await using t = await startTestHost();
  const env = { ...ENV, ROAM_HOST: t.host.url, ROAM_TOKEN: t.token };
  const add = await roam(["cap", "add", join(PLUGINS, "echo-deno")], env);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /installed echo-deno 1\.0\.0/);
  const list = await roam(["cap", "list"], env);
  assert.match(list.stdout, /echo-deno\s+1\.0\.0\s+deno/);
  const start = await roam(["cap", "start", "echo-deno"], env);
  assert.match(start.stdout, /echo-deno-\w+ ready \(pid \d+/);
  assert.match((await roam(["cap", "instances"], env)).stdout, /echo-deno-/);
  const bad = await roam(["cap", "start", "echo-deno", "--config", "[1]"], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--config must be a JSON object/);
  assert.match((await roam(["cap", "stop", "echo-deno"], env)).stdout, /stopped echo-deno-/);
  assert.match((await roam(["cap", "logs", "echo-deno"], env)).stdout, /ROAM_WORKER_PORT=/);
  assert.equal((await roam(["cap", "logs", "nope"], env)).stdout.trim(), "no logs of nope yet");
});
