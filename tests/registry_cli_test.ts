import assert from "node:assert/strict";
import { join } from "node:path";
import { CliProcess, roam } from "./support/cli.ts";
import { generateSigningKey } from "../src/registry/mod.ts";
import { REPO_REGISTRY, writeCapabilityRegistry } from "./registry_support.ts";

Deno.test("the CLI searches a registry, installs from it with progress, lists, shows, updates and removes", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-cli-registry-" });
  const host = new CliProcess([
    "--data-dir",
    dataDir,
    "host",
    "--port",
    "0",
    "--name",
    "r",
    "--no-multicast",
  ]);
  try {
    await host.waitFor(/listening on/);
    const cli = (args: string[], env: Record<string, string> = {}) =>
      roam(["--data-dir", dataDir, ...args], env);

    const search = await cli(["plugin", "search", "echo", "--registry", REPO_REGISTRY]);
    assert.equal(search.code, 0, search.stderr);
    assert.match(search.stdout, /^NAME\s+KIND\s+LATEST\s+INSTALLED\s+DESCRIPTION$/m);
    assert.match(search.stdout, /^hello\s+agent\s+0\.1\.0\s+-\s+/m);

    const install = await cli(["plugin", "install", "hello@^0.1", "--registry", REPO_REGISTRY]);
    assert.equal(install.code, 0, install.stderr);
    assert.match(
      install.stdout,
      /^installed agent plugin hello 0\.1\.0 from file:\/\/.*index\.json$/m,
    );
    assert.match(install.stderr, /verified and installed hello 0\.1\.0/);

    const probe = await cli(["plugin", "install", "sandbox-probe", "--registry", REPO_REGISTRY]);
    assert.equal(probe.code, 0, probe.stderr);
    assert.match(probe.stdout, /^it requests read \/; write \/; net 127\.0\.0\.1, localhost/m);
    assert.match(
      probe.stdout,
      /^ {2}roam plugin grant sandbox-probe --read \/ --write \/ --net 127/m,
    );
    assert.equal((await cli(["plugin", "remove", "sandbox-probe"])).code, 0);

    const list = await cli(["plugin", "list"]);
    assert.match(list.stdout, /^hello\s+0\.1\.0\s+.*file:\/\/.*registry\/index\.json$/m);
    const offered = await cli(["plugin", "list", "--registry", REPO_REGISTRY]);
    assert.match(offered.stdout, /^hello\s+agent\s+0\.1\.0\s+0\.1\.0\s+/m);
    const info = await cli(["plugin", "info", "hello", "--registry", REPO_REGISTRY]);
    assert.match(info.stdout, /^installed\s+0\.1\.0$/m);
    assert.match(info.stdout, /^sha256\s+[0-9a-f]{64}$/m);

    // A capability, with the registry from the environment.
    const capRegistry = join(dataDir, "cap-registry");
    await writeCapabilityRegistry(capRegistry, { "echo-cap": [{ version: "0.1.0" }] });
    const env = { ROAM_REGISTRY: capRegistry };
    const cap = await cli(["plugin", "install", "echo-cap"], env);
    assert.equal(cap.code, 0, cap.stderr);
    assert.match(cap.stdout, /^installed capability plugin echo-cap 0\.1\.0/);
    const both = await cli(["plugin", "list"]);
    assert.match(both.stdout, /^CAPABILITY\s+VERSION\s+SHA256\s+FROM\s+INSTALLED$/m);
    assert.match(both.stdout, /^echo-cap\s+0\.1\.0\s+[0-9a-f]{12}\s+file:/m);
    const capInfo = await cli(["plugin", "info", "echo-cap"]);
    assert.match(capInfo.stdout, /^kind\s+capability$/m);
    const update = await cli(["plugin", "update"]);
    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stdout, /^echo-cap 0\.1\.0 is the newest$/m);
    assert.match(update.stdout, /^hello 0\.1\.0 is the newest$/m);
    const json = JSON.parse((await cli(["--json", "plugin", "list"])).stdout);
    assert.deepEqual(json.map((p: { name: string; kind: string }) => [p.name, p.kind]), [
      ["hello", "agent"],
      ["echo-cap", "capability"],
    ]);

    for (const name of ["hello", "echo-cap"]) {
      const removed = await cli(["plugin", "remove", name]);
      assert.equal(removed.code, 0, removed.stderr);
      assert.match(
        removed.stdout,
        new RegExp(`^removed (agent|capability) plugin ${name} 0\\.1\\.0$`, "m"),
      );
    }
    assert.match((await cli(["plugin", "list"])).stdout, /^no plugins installed/);
  } finally {
    await host.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("registry CLI errors are one line: usage errors exit 2, refusals exit 1", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-cli-registry-" });
  const host = new CliProcess(["--data-dir", dataDir, "host", "--port", "0", "--no-multicast"]);
  try {
    await host.waitFor(/listening on/);
    const tampered = join(dataDir, "tampered");
    await writeCapabilityRegistry(tampered, { "echo-cap": [{ version: "0.1.0" }] });
    const archive = join(tampered, "archives/echo-cap-0.1.0.tar.gz");
    const bytes = await Deno.readFile(archive);
    bytes[20] ^= 1;
    await Deno.writeFile(archive, bytes);
    const cases: [string[], number, RegExp][] = [
      [["plugin", "install", "Hello@"], 2, /^roam: expected NAME or NAME@RANGE/],
      [["plugin", "install", "hello"], 2, /^roam: no registry given: pass --registry URL/],
      [
        ["plugin", "install", "hello@>=5", "--registry", REPO_REGISTRY],
        1,
        /^roam: no version of hello matches >=5; it has 0\.1\.0$/,
      ],
      [
        ["plugin", "install", "nope", "--registry", REPO_REGISTRY],
        1,
        /^roam: the registry at file:.* has no plugin named nope/,
      ],
      [
        ["plugin", "install", "echo-cap", "--registry", tampered],
        1,
        /^roam: the archive at file:.* has sha256 [0-9a-f]+, not the [0-9a-f]+ the index says/,
      ],
      [["plugin", "update", "hello"], 1, /^roam: hello was not installed from a registry/],
    ];
    for (const [args, code, pattern] of cases) {
      const result = await roam(["--data-dir", dataDir, ...args]);
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr.trim(), pattern);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    }
    // A publisher key that changed is refused until the operator accepts it.
    const signed = join(dataDir, "signed");
    await writeCapabilityRegistry(signed, { "echo-cap": [{ version: "0.1.0" }] }, {
      signingKey: generateSigningKey().privatePem,
    });
    const first = await roam(["--data-dir", dataDir, "plugin", "search", "--registry", signed]);
    assert.equal(first.code, 0, first.stderr);
    await writeCapabilityRegistry(signed, { "echo-cap": [{ version: "0.1.0" }] }, {
      signingKey: generateSigningKey().privatePem,
    });
    const args = ["--data-dir", dataDir, "plugin", "install", "echo-cap", "--registry", signed];
    const refused = await roam(args);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr.trim(),
      /^roam: the index at .* is signed with ed25519:.*, but this host pinned ed25519:.*--accept-new-key$/,
    );
    const accepted = await roam([...args, "--accept-new-key"]);
    assert.equal(accepted.code, 0, accepted.stderr);

    const help = await roam(["plugin", "--help"]);
    for (const sub of ["search", "install", "update"]) {
      assert.match(help.stdout, new RegExp(`^\\s+${sub}\\b`, "m"));
    }
  } finally {
    await host.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
