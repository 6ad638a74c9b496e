import assert from "node:assert/strict";
import { join } from "node:path";
import { isRoamError } from "../src/errors/mod.ts";
import { PluginStore } from "../src/plugins/mod.ts";
import {
  AgentInstaller,
  CapabilityInstaller,
  type CapabilityInstallerOptions,
  RegistryConfigSchema,
  RegistryService,
} from "../src/registry/mod.ts";
import { EventLog, openStore } from "../src/store/mod.ts";
import { writeCapabilityRegistry } from "./registry_support.ts";

/** A registry service over a fresh data dir, with capability installer hooks of the test's. */
async function withService(
  hooks: Omit<CapabilityInstallerOptions, "dataDir">,
  fn: (ctx: { service: RegistryService; dataDir: string; dir: string }) => Promise<void>,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-rollback-" });
  const dir = await Deno.makeTempDir({ prefix: "roam-rollback-registry-" });
  const db = openStore({ path: join(dataDir, "roam.db") });
  try {
    const events = new EventLog(db);
    const service = new RegistryService({
      db,
      dataDir,
      events,
      config: RegistryConfigSchema.parse({}),
      installers: {
        agent: new AgentInstaller(new PluginStore({ db, dataDir, events })),
        capability: new CapabilityInstaller({ dataDir, ...hooks }),
      },
    });
    await fn({ service, dataDir, dir });
  } finally {
    db.close();
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
}

const read = (path: string) => Deno.readTextFile(path);

Deno.test("an install that fails while swapping dirs leaves the previous version in place and recorded", async () => {
  let failSwap = false;
  const installed: string[] = [];
  await withService({
    faults: {
      swap: () => {
        if (failSwap) throw new Error("disk full (injected)");
      },
    },
    installed: (name, version) => void installed.push(`${name}@${version}`),
  }, async ({ service, dataDir, dir }) => {
    const registry = await writeCapabilityRegistry(dir, {
      "echo-cap": [{ version: "0.1.0" }, { version: "0.2.0" }],
    });
    await service.install("echo-cap", { registry, range: "0.1.0" });
    const final = join(dataDir, "capabilities", "echo-cap");
    assert.equal(await read(join(final, "worker.py")), 'print("echo-cap 0.1.0")\n');

    failSwap = true;
    await assert.rejects(service.install("echo-cap", { registry }), /disk full/);
    assert.equal(await read(join(final, "worker.py")), 'print("echo-cap 0.1.0")\n');
    assert.deepEqual((await service.installed()).map((r) => r.version), ["0.1.0"]);
    assert.deepEqual([...Deno.readDirSync(join(dataDir, "capabilities", ".staging"))], []);
    assert.deepEqual(installed, ["echo-cap@0.1.0"], "no notification for the failed install");

    failSwap = false;
    const ok = await service.install("echo-cap", { registry });
    assert.deepEqual([ok.version, ok.previous], ["0.2.0", "0.1.0"]);
    assert.equal(await read(join(final, "worker.py")), 'print("echo-cap 0.2.0")\n');
    assert.deepEqual(installed, ["echo-cap@0.1.0", "echo-cap@0.2.0"]);
  });
});

Deno.test("the capability runtime's validate hook can refuse a version; the previous one keeps working", async () => {
  await withService({
    validate: (dir, manifest) => {
      if (manifest.version === "0.2.0") {
        return Promise.reject(new Error(`no interpreter for ${dir.split("/").at(-1)} (injected)`));
      }
      return Promise.resolve();
    },
  }, async ({ service, dataDir, dir }) => {
    const registry = await writeCapabilityRegistry(dir, {
      "echo-cap": [{ version: "0.1.0" }, { version: "0.2.0" }],
    });
    await service.install("echo-cap", { registry, range: "0.1.0" });
    await assert.rejects(service.install("echo-cap", { registry }), /no interpreter/);
    const manifest = JSON.parse(
      await read(join(dataDir, "capabilities", "echo-cap", "plugin.json")),
    );
    assert.equal(manifest.version, "0.1.0");
    assert.deepEqual((await service.installed()).map((r) => r.version), ["0.1.0"]);
  });
});

Deno.test("an archive that is not the plugin its index says (name, kind or entry) is refused", async () => {
  await withService({}, async ({ service, dataDir, dir }) => {
    const registry = await writeCapabilityRegistry(dir, {
      liar: [{ version: "0.1.0", manifest: { name: "someone-else" } }],
      agentish: [{ version: "0.1.0", manifest: { kind: "agent" } }],
      headless: [{ version: "0.1.0", files: { "other.py": "" } }],
    });
    await assert.rejects(
      service.install("liar", { registry }),
      (e) =>
        isRoamError(e, "invalid_input") &&
        /someone-else 0\.1\.0, not what the index says/.test(e.message),
    );
    await assert.rejects(service.install("agentish", { registry }), /holds agent plugin/);
    await assert.rejects(service.install("headless", { registry }), /no entry file worker\.py/);
    for (const name of ["liar", "agentish", "headless", "someone-else"]) {
      await assert.rejects(Deno.stat(join(dataDir, "capabilities", name)));
    }
    assert.deepEqual(await service.installed(), []);
  });
});

Deno.test("a host that stopped between moving the old version aside and the new one in gets the old one back", async () => {
  await withService({}, async ({ dataDir }) => {
    const root = join(dataDir, "capabilities");
    const aside = join(root, ".staging", "old-echo-cap--1234");
    await Deno.mkdir(aside, { recursive: true });
    await Deno.writeTextFile(join(aside, "plugin.json"), '{"version":"0.1.0"}');
    await Deno.mkdir(join(root, ".staging", "new-5678"));
    const installer = new CapabilityInstaller({ dataDir });
    await installer.remove("not-there"); // any first use sweeps the staging dir
    assert.equal(await installer.has("echo-cap", "0.1.0"), true);
    assert.deepEqual([...Deno.readDirSync(join(root, ".staging"))], []);
  });
});
