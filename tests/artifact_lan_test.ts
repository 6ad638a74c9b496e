// Blobs between real `roam host --bind auto` processes, each in its own
// network namespace on a private bridge (tests/support/netns.ts): a host
// finds which host of the mesh holds a blob and fetches it by hash, and a
// blob is replicated to every other host. Where namespaces cannot be made,
// the test is skipped.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readSecret, TokenSigner } from "../src/security/mod.ts";
import { LanHost, until, writeSecret } from "./mesh_support.ts";
import { canUseLan, createLan } from "./support/netns.ts";

const lanCheck = await canUseLan();
if (!lanCheck.ok) console.log(`artifact_lan_test: skipping the multi-host tests: ${lanCheck.why}`);

const MAIN = new URL("../main.ts", import.meta.url).pathname;

type Holders = { holders: { name: string | null; url: string; self: boolean }[] };

Deno.test({
  name:
    "a host finds the holder of a blob in the mesh and fetches it by hash; replicate reaches every host",
  ignore: !lanCheck.ok,
  async fn() {
    await using lan = await createLan(3);
    const secretFile = await writeSecret(`${lan.dir}/secret`);
    const hosts = ["h1", "h2", "h3"].map((name, i) => new LanHost(lan, i, { name, secretFile }));
    const [h1, h2, h3] = hosts;
    await Promise.all(hosts.map((h) => h.start()));
    await until(
      async () => {
        for (const h of hosts) {
          const states = await h.states();
          if (Object.values(states).filter((s) => s === "alive").length !== 3) return false;
        }
        return true;
      },
      10_000,
      async () => JSON.stringify(await Promise.all(hosts.map((h) => h.states()))),
    );

    const data = new Uint8Array(5 * 1024 * 1024 + 1);
    for (let i = 0; i < data.length; i += 65536) {
      crypto.getRandomValues(data.subarray(i, i + 65536));
    }
    const sha256 = createHash("sha256").update(data).digest("hex");
    const token = new TokenSigner((await readSecret(secretFile)).bytes).mint({
      subject: "test",
      ttlMs: 600_000,
    });
    // Uploaded with the CLI, run inside h1's namespace.
    await Deno.writeFile(`${lan.dir}/blob.bin`, data);
    const put = await lan.run(0, Deno.execPath(), [
      "run",
      "--allow-all",
      MAIN,
      "--host",
      h1.url,
      "--token",
      token,
      "artifact",
      "put",
      `${lan.dir}/blob.bin`,
    ]);
    assert.ok(put.success, new TextDecoder().decode(put.stderr));
    assert.equal(new TextDecoder().decode(put.stdout).trim(), sha256);

    const located = await h2.call<Holders>("artifact.locate", { sha256 });
    assert.deepEqual(located.holders.map((h) => h.name), ["h1"]);
    assert.equal(located.holders[0].url, h1.url);

    const fetched = await h2.call<{ from: string; size: number }>("artifact.fetch", { sha256 });
    assert.equal(fetched.from, h1.url);
    assert.equal(fetched.size, data.byteLength);
    const both = await h3.call<Holders>("artifact.locate", { sha256 });
    assert.deepEqual(both.holders.map((h) => h.name).sort(), ["h1", "h2"]);

    const spread = await h1.call<{ hosts: { url: string; ok: boolean; already?: boolean }[] }>(
      "artifact.replicate",
      { sha256, to: "all" },
      30_000,
    );
    assert.deepEqual(
      spread.hosts.map((h) => [h.url, h.ok, h.already]).sort(),
      [[h2.url, true, true], [h3.url, true, false]].sort(),
    );
    const stat = await h3.call<{ size: number }>("artifact.stat", { sha256 });
    assert.equal(stat.size, data.byteLength);
    await Promise.all(hosts.map((h) => h.stop()));
  },
});
