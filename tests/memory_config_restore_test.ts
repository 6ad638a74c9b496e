// A configuration snapshot carries the host's agent plugins with their code
// and grants: a host started from it on another data dir (another machine),
// reading the snapshot from the first host as a peer pool, has the same
// plugins installed and granted, and runs an agent of one.
import assert from "node:assert/strict";
import { join } from "node:path";
import { connect } from "../mod.ts";
import { CliProcess, roam } from "./support/cli.ts";
import { installPluginDir } from "./support/agents.ts";
import { startTestHost } from "./support/host.ts";

const HELLO = new URL("../plugins/hello", import.meta.url).pathname;

Deno.test("roam host --from-manifest on another data dir installs the snapshot's plugins with their grants", async () => {
  const root = await Deno.makeTempDir({ prefix: "roam-restore-" });
  const secretFile = join(root, "secret");
  try {
    await using first = await startTestHost({
      name: "alpha",
      dataDir: join(root, "a"),
      secretFile,
    });
    const a = await connect({ url: first.host.url, token: first.token });
    try {
      await installPluginDir(a, HELLO);
      await a.plugin.grant({ name: "hello", read: ["/tmp/roam-restore-data"] });
      const exported = await roam([
        "--host",
        first.host.url,
        "--token",
        first.token,
        "config",
        "export",
        "--pool",
        "local",
        "--nickname",
        "lab",
      ]);
      assert.equal(exported.code, 0, exported.stderr);
      const before = (await a.plugin.list()).plugins.find((p) => p.name === "hello")!;

      const second = new CliProcess([
        "--data-dir",
        join(root, "b"),
        "host",
        "--secret-file",
        secretFile,
        "--from-manifest",
        "lab",
        "--pool",
        first.host.url,
        "--port",
        "0",
        "--name",
        "beta",
      ]);
      try {
        await second.waitFor(/installed from the snapshot: hello@0\.1\.0/);
        const b = await connect({ dataDir: join(root, "b") });
        try {
          const after = (await b.plugin.list()).plugins.find((p) => p.name === "hello");
          assert.equal(after?.sha256, before.sha256, "the same code");
          const info = await b.plugin.info({ name: "hello" });
          assert.deepEqual(info.granted.read, ["/tmp/roam-restore-data"]);
          const { id } = await b.agent.create({ plugin: "hello" });
          assert.equal((await b.agent.send({ id, kind: "increment" })).reply, 1);
        } finally {
          await b.close();
        }
      } finally {
        await second.stop();
      }
    } finally {
      await a.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
