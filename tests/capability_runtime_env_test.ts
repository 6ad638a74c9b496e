/**
 * Capability environments for real: a venv whose requirements pip installs
 * from PyPI, a system interpreter, and conda orchestration through a
 * STAND-IN conda (tests/fixtures/fake-conda/micromamba; conda channels are not
 * reachable here): tool lookup, creation by prefix, one creation for
 * concurrent starts, reuse after a restart, a missing conda, and a creation
 * that stalls.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CapabilityHost } from "../src/capabilities/mod.ts";
import { RoamError } from "../src/errors/mod.ts";
import { within } from "./support/wait.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const FAKE_CONDA = join(FIXTURES, "fake-conda", "micromamba");

async function tempDir() {
  const dir = await Deno.makeTempDir({ prefix: "roam-caps-env-" });
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** The host's environment without any conda tool: PATH of system dirs only. */
function envWithoutConda(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.MAMBA_EXE;
  delete env.CONDA_EXE;
  const python = new Deno.Command("python3", { args: ["-c", "import sys; print(sys.executable)"] })
    .outputSync();
  const pythonDir = new TextDecoder().decode(python.stdout).trim().replace(/\/[^/]+$/, "");
  env.PATH = [pythonDir, "/usr/local/bin", "/usr/bin", "/bin"].join(":");
  return { ...env, ...extra };
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

function venvAvailable(): boolean {
  const out = new Deno.Command("python3", {
    args: ["-c", "import ensurepip, venv"],
    stdout: "null",
    stderr: "null",
  })
    .outputSync();
  if (!out.success) {
    console.log("skipped: python3 has no venv module here (apt-get install python3-venv)");
  }
  return out.success;
}

Deno.test({
  name: "a venv capability: python -m venv and a real pip install, reused after a restart",
  ignore: !venvAvailable(),
  fn: async () => {
    await using tmp = await tempDir();
    const first = new CapabilityHost({ dataDir: tmp.dir, envStallMs: 120_000 });
    let prefix: string;
    try {
      await first.add(join(FIXTURES, "cap-venv"));
      const instance = await first.instance("venv-six", {});
      const where = await instance.execute("where", {}) as { six: string; prefix: string };
      assert.equal(where.six, "1.16.0");
      prefix = where.prefix;
      assert.ok(prefix.startsWith(join(tmp.dir, "envs", "venv-")), prefix);
      assert.ok((await Deno.stat(join(prefix, ".roam-ready"))).isFile);
      const [log] = await first.diagnostics.read("venv-six", { files: 2, lines: 1000 });
      assert.match(log.lines.join("\n"), /-m venv|pip install/);
    } finally {
      await first.close();
    }
    const marker = (await Deno.stat(join(prefix, ".roam-ready"))).mtime;
    // A new runtime on the same data dir (a restart) reuses the environment.
    const second = new CapabilityHost({ dataDir: tmp.dir });
    try {
      const began = performance.now();
      const instance = await second.instance("venv-six", {});
      assert.equal((await instance.execute("where", {}) as { prefix: string }).prefix, prefix);
      assert.ok(performance.now() - began < 10_000);
      assert.deepEqual((await Deno.stat(join(prefix, ".roam-ready"))).mtime, marker);
    } finally {
      await second.close();
    }
  },
});

Deno.test("a system capability runs on the interpreter named in its manifest", async () => {
  await using tmp = await tempDir();
  const runtime = new CapabilityHost({ dataDir: tmp.dir });
  try {
    await runtime.add(new URL("../plugins/echo-py", import.meta.url).pathname);
    const instance = await runtime.instance("echo-py", {});
    assert.ok(await instance.execute("echo", {}));
    // No managed environment was made for it.
    assert.equal(await Deno.stat(join(tmp.dir, "envs")).then(() => true, () => false), false);
  } finally {
    await runtime.close();
  }
});

Deno.test("conda (STAND-IN tool): found through MAMBA_EXE, created once by prefix for concurrent starts, reused", async () => {
  await using tmp = await tempDir();
  const count = join(tmp.dir, "creations.log");
  const runtime = new CapabilityHost({
    dataDir: join(tmp.dir, "data"),
    env: envWithoutConda({ MAMBA_EXE: FAKE_CONDA, FAKE_CONDA_LOG: count }),
  });
  try {
    await runtime.add(join(FIXTURES, "cap-conda"));
    const [a, b] = await Promise.all([
      runtime.instance("conda-echo", { one: 1 }),
      runtime.instance("conda-echo", { two: 2 }),
    ]);
    assert.notEqual(a.id, b.id);
    const creations = (await Deno.readTextFile(count)).trim().split("\n");
    assert.equal(creations.length, 1, creations.join("; "));
    const prefix = creations[0].replace(/^create /, "");
    assert.ok(prefix.startsWith(join(tmp.dir, "data", "envs", "conda-")), prefix);
    assert.ok((await Deno.stat(join(prefix, ".roam-ready"))).isFile);
    const files = await runtime.diagnostics.read("conda-echo", { files: 10, lines: 100 });
    const text = files.flatMap((f) => f.lines).join("\n");
    assert.match(text, /using micromamba at .*fake-conda\/micromamba \(from MAMBA_EXE\)/);
    assert.match(text, /stand-in conda: linking packages/);
    assert.match(text, new RegExp(`started pid \\d+: ${prefix}/bin/python`));
    await runtime.stop("conda-echo");
    await runtime.instance("conda-echo", { one: 1 });
    assert.equal((await Deno.readTextFile(count)).trim().split("\n").length, 1);
  } finally {
    await runtime.close();
  }
});

Deno.test("conda (STAND-IN tool): found on PATH as micromamba", async () => {
  await using tmp = await tempDir();
  const env = envWithoutConda();
  env.PATH = `${join(FIXTURES, "fake-conda")}:${env.PATH}`;
  const runtime = new CapabilityHost({ dataDir: tmp.dir, env });
  try {
    await runtime.add(join(FIXTURES, "cap-conda"));
    const instance = await runtime.instance("conda-echo", {});
    assert.ok(await instance.execute("where", {}));
  } finally {
    await runtime.close();
  }
});

Deno.test("a conda capability without any conda tool fails naming what to install", async () => {
  await using tmp = await tempDir();
  const runtime = new CapabilityHost({ dataDir: tmp.dir, env: envWithoutConda() });
  try {
    await runtime.add(join(FIXTURES, "cap-conda"));
    const error = await rejection(runtime.instance("conda-echo", {}));
    assert.equal(error.code, "unavailable");
    assert.equal(error.data.category, "fatal");
    assert.match(error.message, /no conda tool was found/);
    assert.match(error.message, /install micromamba/);
    assert.match(error.message, /MAMBA_EXE/);
  } finally {
    await runtime.close();
  }
});

Deno.test("an environment creation that prints nothing for the stall limit is stopped as stalled", async () => {
  await using tmp = await tempDir();
  const pidFile = join(tmp.dir, "conda.pid");
  const runtime = new CapabilityHost({
    dataDir: join(tmp.dir, "data"),
    envStallMs: 400,
    env: envWithoutConda({
      MAMBA_EXE: FAKE_CONDA,
      FAKE_CONDA_STALL: "1",
      FAKE_CONDA_PIDFILE: pidFile,
    }),
  });
  try {
    await runtime.add(join(FIXTURES, "cap-conda"));
    const began = performance.now();
    const error = await within(
      5_000,
      "the stall to be noticed",
      rejection(runtime.instance("conda-echo", {})),
    );
    assert.equal(error.code, "timeout");
    assert.equal(error.data.category, "transient");
    assert.match(error.message, /printed nothing for 400 ms/);
    assert.match(error.message, /solving environment/);
    assert.ok(performance.now() - began < 4_000);
    const pid = Number((await Deno.readTextFile(pidFile)).trim());
    assert.equal(
      await Deno.stat(`/proc/${pid}`).then(() => true, () => false),
      false,
      "the stalled tool is gone",
    );
    // Nothing half-made is left to be mistaken for a ready environment.
    const envs = [...Deno.readDirSync(join(tmp.dir, "data", "envs"))];
    assert.deepEqual(envs, []);
  } finally {
    await runtime.close();
  }
});

Deno.test("closing the runtime stops an environment creation in progress at once", async () => {
  await using tmp = await tempDir();
  const pidFile = join(tmp.dir, "conda.pid");
  const runtime = new CapabilityHost({
    dataDir: join(tmp.dir, "data"),
    envStallMs: 60_000,
    env: envWithoutConda({
      MAMBA_EXE: FAKE_CONDA,
      FAKE_CONDA_STALL: "1",
      FAKE_CONDA_PIDFILE: pidFile,
    }),
  });
  await runtime.add(join(FIXTURES, "cap-conda"));
  const start = rejection(runtime.instance("conda-echo", {}));
  await within(
    5_000,
    "the stand-in conda to start",
    (async () => {
      while (!(await Deno.stat(pidFile).then(() => true, () => false))) {
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
  );
  const began = performance.now();
  await runtime.close();
  const error = await start;
  assert.equal(error.code, "cancelled");
  assert.ok(performance.now() - began < 5_000);
  const pid = Number((await Deno.readTextFile(pidFile)).trim());
  assert.equal(await Deno.stat(`/proc/${pid}`).then(() => true, () => false), false);
});

Deno.test("an invalid plugin dir is refused with what is wrong", async () => {
  await using tmp = await tempDir();
  const runtime = new CapabilityHost({ dataDir: join(tmp.dir, "data") });
  try {
    const dir = join(tmp.dir, "bad");
    await Deno.mkdir(dir);
    await Deno.writeTextFile(
      join(dir, "plugin.json"),
      JSON.stringify({
        name: "bad",
        version: "1",
        kind: "capability",
        entry: "w.py",
        environment: { type: "system" },
      }),
    );
    const error = await rejection(runtime.add(dir));
    assert.equal(error.code, "invalid_input");
    assert.match(error.message, /names w\.py, which is not a file/);
    await Deno.writeTextFile(
      join(dir, "plugin.json"),
      JSON.stringify({
        name: "bad",
        version: "1",
        kind: "agent",
        entry: "w.py",
        environment: { type: "system" },
      }),
    );
    assert.match((await rejection(runtime.add(dir))).message, /kind/);
  } finally {
    await runtime.close();
  }
});
