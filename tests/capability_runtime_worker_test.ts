/**
 * The capability runtime with real worker processes (echo-py on the system
 * Python, echo-deno on this Deno): calls, streams, error categories, cancel,
 * a worker killed mid-call, and stop killing the whole process group.
 */
import assert from "node:assert/strict";
import { CapabilityHost, type CapabilityInstance } from "../src/capabilities/mod.ts";
import { isRoamError, RoamError } from "../src/errors/mod.ts";
import { within } from "./support/wait.ts";

const PLUGINS = new URL("../plugins/", import.meta.url).pathname;

async function runtimeWith(...names: string[]) {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-caps-" });
  const runtime = new CapabilityHost({
    dataDir,
    timings: { stopGraceMs: 1_000, cancelGraceMs: 1_000 },
  });
  for (const name of names) await runtime.add(`${PLUGINS}${name}`);
  return {
    runtime,
    dataDir,
    async [Symbol.asyncDispose]() {
      await runtime.close();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

function alive(pid: number): boolean {
  try {
    // Signal 0 is not in Deno's list; a zombie still has /proc/PID, so read its state.
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function rejection(promise: Promise<unknown>): Promise<RoamError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RoamError, `expected a RoamError, got ${error}`);
    return error;
  }
  assert.fail("expected a rejection");
}

for (const name of ["echo-py", "echo-deno"]) {
  Deno.test(`${name}: a call and a streamed call with progress and partial results`, async () => {
    await using t = await runtimeWith(name);
    const instance = await t.runtime.instance(name, {});
    assert.deepEqual(
      (await instance.execute("echo", { x: [1, "two"] }) as { echo: unknown }).echo,
      {
        x: [1, "two"],
      },
    );
    const partials: unknown[] = [];
    const fractions: number[] = [];
    const result = await instance.execute("count", { to: 5, delayMs: 1 }, {
      onProgress: (p) => {
        partials.push(p.partial);
        fractions.push(p.fraction ?? -1);
      },
    });
    assert.deepEqual(result, { counted: 5 });
    assert.deepEqual(partials, [1, 2, 3, 4, 5]);
    assert.equal(fractions.at(-1), 1);
    assert.deepEqual(t.runtime.get(name)?.methods.includes("count"), true);
  });

  Deno.test(`${name}: failures carry their category`, async () => {
    await using t = await runtimeWith(name);
    const instance = await t.runtime.instance(name, {});
    const expected = {
      user_input: "invalid_input",
      transient: "unavailable",
      resource: "quota_exceeded",
      fatal: "unavailable",
    } as const;
    for (const [mode, code] of Object.entries(expected)) {
      const error = await rejection(instance.execute("fail", { mode }));
      assert.equal(error.data.category, mode);
      assert.equal(error.code, code);
      assert.equal(error.data.capability, name);
    }
    const unknown = await rejection(instance.execute("no_such_method", {}));
    assert.equal(unknown.data.category, "user_input");
    assert.match(unknown.message, /no method/);
    // The worker is fine after its failures.
    assert.ok(await instance.execute("echo", 1));
  });

  Deno.test(`${name}: cancelling in the middle of a stream ends the call, the instance lives on`, async () => {
    await using t = await runtimeWith(name);
    const instance = await t.runtime.instance(name, {});
    const controller = new AbortController();
    const seen: unknown[] = [];
    const call = instance.execute("count", { to: 100_000, delayMs: 5 }, {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p.partial);
        if (seen.length === 3) controller.abort();
      },
    });
    const error = await within(3_000, "the cancelled stream to end", rejection(call));
    assert.equal(error.code, "cancelled");
    assert.equal(error.data.cancelled, true);
    assert.ok(seen.length >= 3 && seen.length < 100_000);
    assert.equal(t.runtime.instances().length, 1);
    assert.deepEqual(await instance.execute("count", { to: 2, delayMs: 1 }), { counted: 2 });
  });
}

Deno.test("a worker killed during a call gives a typed transient error, and the next instance works", async () => {
  await using t = await runtimeWith("echo-py");
  const first = await t.runtime.instance("echo-py", {});
  const call = first.execute("sleep", { ms: 30_000 });
  // The call is running once the worker counts it active.
  await within(
    2_000,
    "the call to start",
    (async () => {
      while (first.active === 0) await new Promise((r) => setTimeout(r, 5));
    })(),
  );
  Deno.kill(first.pid, "SIGKILL");
  const error = await within(5_000, "the call to fail", rejection(call));
  assert.equal(error.code, "crashed");
  assert.equal(error.data.category, "transient");
  assert.equal(error.data.signal, "SIGKILL");
  await within(
    2_000,
    "the dead instance to leave the list",
    (async () => {
      while (t.runtime.instances().length > 0) await new Promise((r) => setTimeout(r, 5));
    })(),
  );
  const second = await t.runtime.instance("echo-py", {});
  assert.notEqual(second.pid, first.pid);
  assert.equal((await second.execute("echo", 7) as { echo: number }).echo, 7);
});

Deno.test("a worker that exits during a call is reported as crashed with its exit code", async () => {
  await using t = await runtimeWith("echo-py");
  const instance = await t.runtime.instance("echo-py", {});
  const error = await rejection(instance.execute("fail", { mode: "exit" }));
  assert.equal(error.code, "crashed");
  assert.equal(error.data.exitCode, 3);
  assert.match(error.message, /roam cap logs echo-py/);
});

Deno.test("a worker that fails to initialize is not left running, and the error quotes its output", async () => {
  await using t = await runtimeWith("echo-py");
  for (const [mode, category] of [["error", "fatal"], ["exit", "fatal"]] as const) {
    const error = await rejection(t.runtime.instance("echo-py", { failInit: mode }));
    assert.equal(error.data.category, category, error.message);
    assert.match(error.message, /as asked/);
    const pids = [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).map((e) => {
      try {
        return Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      } catch {
        return "";
      }
    }).filter((cmd) => cmd.includes(t.dataDir));
    assert.deepEqual(pids, [], `no process of this runtime is left after '${mode}'`);
  }
  assert.equal(t.runtime.instances().length, 0);
});

Deno.test("a slow initialize runs past the stall limit while the worker answers; a wedged one is stopped", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-caps-" });
  const runtime = new CapabilityHost({
    dataDir,
    timings: { initStallMs: 1_000, stopGraceMs: 500 },
  });
  try {
    await runtime.add(`${PLUGINS}echo-py`);
    const slow = await runtime.instance("echo-py", { initSleepMs: 2_500 });
    assert.ok(await slow.execute("echo", {}));
    await slow.stop("test");
    // Wedged: the worker is frozen (SIGSTOP) in the middle of its initialize.
    const start = runtime.instance("echo-py", { initSleepMs: 60_000 });
    const logged = async () =>
      (await runtime.diagnostics.read("echo-py", { lines: 50 }))[0]?.lines.join("\n") ?? "";
    let pid = 0;
    await within(
      10_000,
      "the second worker to begin initializing",
      (async () => {
        for (;;) {
          const text = await logged();
          const match = /started pid (\d+)/.exec(text);
          if (match && Number(match[1]) !== slow.pid && text.includes("initializing slowly")) {
            pid = Number(match[1]);
            return;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
    );
    Deno.kill(pid, "SIGSTOP");
    const error = await within(8_000, "the stall to be noticed", rejection(start));
    assert.equal(error.code, "timeout");
    assert.match(error.message, /did not answer \/health for 1000 ms/);
    assert.ok(!alive(pid), "the wedged worker is gone");
  } finally {
    await runtime.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("stop kills the whole process group, grandchildren included", async () => {
  await using t = await runtimeWith("echo-py");
  const instance = await t.runtime.instance("echo-py", { grandchild: true });
  const { pid: grandchild } = await instance.execute("spawn", { seconds: 300 }) as { pid: number };
  const { children } = await instance.execute("echo", {}) as { children: number[] };
  assert.equal(children.length, 2);
  for (const pid of [instance.pid, ...children]) assert.ok(alive(pid), `pid ${pid} runs`);
  await instance.stop("test");
  for (const pid of [instance.pid, grandchild, ...children]) {
    assert.ok(!alive(pid), `pid ${pid} is gone after stop`);
  }
  assert.equal(t.runtime.instances().length, 0);
});

Deno.test("a call that ignores its cancel stops its instance after the grace period", async () => {
  await using t = await runtimeWith("echo-py");
  const instance = await t.runtime.instance("echo-py", {});
  const controller = new AbortController();
  const call = instance.execute("sleep", { ms: 30_000 }, { signal: controller.signal });
  setTimeout(() => controller.abort(), 50);
  const error = await within(5_000, "the call to end", rejection(call));
  assert.equal(error.code, "cancelled");
  await within(
    5_000,
    "the instance to stop",
    (async () => {
      while (alive(instance.pid)) await new Promise((r) => setTimeout(r, 10));
    })(),
  );
});

Deno.test("a call past its timeout fails with timeout (transient)", async () => {
  await using t = await runtimeWith("echo-py");
  const instance = await t.runtime.instance("echo-py", {});
  const error = await rejection(
    instance.execute("count", { to: 1000, delayMs: 10 }, { timeoutMs: 100 }),
  );
  assert.equal(error.code, "timeout");
  assert.equal(error.data.category, "transient");
});

Deno.test("instances are shared by config and held to the capability's concurrency", async () => {
  await using t = await runtimeWith("echo-py");
  const a = await t.runtime.instance("echo-py", { prefix: "a" });
  const again = await t.runtime.instance("echo-py", { prefix: "a" });
  const b = await t.runtime.instance("echo-py", { prefix: "b" });
  assert.equal(a, again);
  assert.notEqual(a.id, b.id);
  assert.equal(a.configKey, t.runtime.configKey({ prefix: "a" }));
  assert.equal(((await b.execute("echo", 0)) as { prefix: string }).prefix, "b");
  const bad = await rejection(t.runtime.instance("echo-py", { prefix: 1 }));
  assert.equal(bad.code, "invalid_input");
  assert.equal(bad.data.category, "user_input");
  const missing = await rejection(t.runtime.instance("nope", {}));
  assert.equal(missing.code, "not_found");
  // Concurrent requests for a new config share one start.
  const [x, y] = await Promise.all([
    t.runtime.instance("echo-py", { prefix: "c" }),
    t.runtime.instance("echo-py", { prefix: "c" }),
  ]);
  assert.equal(x, y);
  assert.equal(t.runtime.instances().length, 3);
});

Deno.test("a worker gets the host's environment without roam's secrets, plus its own token", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-caps-" });
  const runtime = new CapabilityHost({
    dataDir,
    env: { ...Deno.env.toObject(), ROAM_TOKEN: "not for workers", SOME_SETTING: "1" },
  });
  try {
    await runtime.add(`${PLUGINS}echo-py`);
    const instance = await runtime.instance("echo-py", {});
    const names = ["ROAM_TOKEN", "SOME_SETTING", "ROAM_WORKER_TOKEN", "ROAM_CAPABILITY_DATA_DIR"];
    assert.deepEqual(await instance.execute("environ", { names }), {
      ROAM_TOKEN: false,
      SOME_SETTING: true,
      ROAM_WORKER_TOKEN: true,
      ROAM_CAPABILITY_DATA_DIR: true,
    });
  } finally {
    await runtime.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("reconfigure gives a running instance a new config in place", async () => {
  await using t = await runtimeWith("echo-py");
  const instance = await t.runtime.instance("echo-py", { prefix: "a" });
  await t.runtime.reconfigure(instance.id, { prefix: "b" });
  assert.equal(instance.configKey, t.runtime.configKey({ prefix: "b" }));
  assert.equal(((await instance.execute("echo", 0)) as { prefix: string }).prefix, "b");
  assert.equal(await t.runtime.instance("echo-py", { prefix: "b" }), instance);
  await assert.rejects(t.runtime.reconfigure(instance.id, { prefix: 2 }), /must be of type string/);
  await assert.rejects(t.runtime.reconfigure("nope", {}), /no running instance/);
});

Deno.test("a caller who stops waiting for a shared start does not cancel it for the others", async () => {
  await using t = await runtimeWith("echo-py");
  const controller = new AbortController();
  const config = { initSleepMs: 800 };
  const impatient = t.runtime.instance("echo-py", config, { signal: controller.signal });
  const patient = t.runtime.instance("echo-py", config);
  controller.abort();
  const error = await rejection(impatient);
  assert.equal(error.code, "cancelled");
  const instance = await patient;
  assert.ok(await instance.execute("echo", {}));
  assert.equal(t.runtime.instances().length, 1);
});

Deno.test("a burst of concurrent calls on one instance all get their own answer", async () => {
  await using t = await runtimeWith("echo-py", "echo-deno");
  for (const name of ["echo-py", "echo-deno"]) {
    const instance = await t.runtime.instance(name, {});
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => instance.execute("echo", { i })),
    ) as { echo: { i: number } }[];
    assert.deepEqual(answers.map((a) => a.echo.i), Array.from({ length: 50 }, (_, i) => i));
  }
});

Deno.test("a deno worker gets only the permissions its manifest grants", async () => {
  await using t = await runtimeWith("echo-deno");
  const instance = await t.runtime.instance("echo-deno", {});
  const error = await rejection(instance.execute("readFile", { path: "/etc/hostname" }));
  assert.match(error.message, /NotCapable|read access/i);
});

Deno.test("measure sums the group's resident memory and keeps the peak", async () => {
  await using t = await runtimeWith("echo-py");
  const instance: CapabilityInstance = await t.runtime.instance("echo-py", { grandchild: true });
  const use = await instance.measure();
  assert.ok(use.ramMb > 1, `ramMb ${use.ramMb}`);
  assert.ok(use.peakRamMb >= use.ramMb);
  assert.equal(use.vramMb, 0);
});

Deno.test("worker output lands in the diagnostics store", async () => {
  await using t = await runtimeWith("echo-py");
  const instance = await t.runtime.instance("echo-py", {});
  await instance.execute("echo", {});
  await instance.stop("test");
  const [file] = await t.runtime.diagnostics.read("echo-py", { lines: 50 });
  const text = file.lines.join("\n");
  assert.match(text, /ROAM_WORKER_PORT=/);
  assert.match(text, /ready in \d+ ms/);
  assert.match(text, /stopping: test/);
  assert.ok(!isRoamError(file));
});
