/**
 * Agents addressed by host name: two loopback hosts joined through --peer
 * (a loopback host gossips by unicast on 127.0.0.1 and never multicasts)
 * move agents by the names the mesh knows them by.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isRoamError } from "../mod.ts";
import { ask, failure, hostWithClient, installPluginDir } from "./support/agents.ts";

const TOURIST = new URL("./fixtures/plugins/tourist", import.meta.url).pathname;

/** Alpha and beta, one mesh (a shared secret), beta joined to alpha through --peer; closed by `await using`. */
async function peeredHosts(root: string, beta: Parameters<typeof hostWithClient>[0] = {}) {
  const secretFile = join(root, "secret");
  const a = await hostWithClient({ name: "alpha", secretFile, dataDir: join(root, "a") });
  const b = await hostWithClient({
    name: "beta",
    secretFile,
    dataDir: join(root, "b"),
    mesh: { peers: [a.t.host.url] },
    ...beta,
  });
  return {
    a,
    b,
    async [Symbol.asyncDispose]() {
      await b[Symbol.asyncDispose]();
      await a[Symbol.asyncDispose]();
    },
  };
}

Deno.test("dispatch, clone and retract take a host name; an unknown or departed name says to look at 'roam hosts'", async () => {
  const root = await Deno.makeTempDir({ prefix: "roam-names-" });
  try {
    await using pair = await peeredHosts(root);
    const { a, b } = pair;
    await a.mesh.mesh.wait({ host: "beta", timeoutMs: 5_000 });
    await b.mesh.mesh.wait({ host: "alpha", timeoutMs: 5_000 });
    await installPluginDir(a.mesh, TOURIST);
    const { id } = await a.mesh.agent.create({ plugin: "tourist" });

    const moved = await a.mesh.agent.dispatch({ id, to: "beta" });
    assert.equal(moved.location, b.t.host.url);
    assert.equal(await ask(b.mesh, id, "where"), "beta");

    const clone = await b.mesh.agent.clone({ id, to: "alpha" });
    assert.equal(clone.location, a.t.host.url);
    assert.equal(await ask(a.mesh, clone.id, "where"), "alpha");

    await a.mesh.agent.retract({ id, from: "beta" });
    assert.equal(await ask(a.mesh, id, "where"), "alpha");

    await assert.rejects(
      a.mesh.agent.dispatch({ id, to: "gamma" }),
      (e) => isRoamError(e, "not_found") && /no host named "gamma".*'roam hosts'/.test(e.message),
    );
    await b[Symbol.asyncDispose]();
    // Its goodbye packet is on its way; the name is refused once alpha has it.
    while ((await a.mesh.mesh.hosts({})).hosts.find((h) => h.name === "beta")?.state === "alive") {
      await new Promise((r) => setTimeout(r, 20));
    }
    await assert.rejects(
      a.mesh.agent.dispatch({ id, to: "beta" }),
      (e) => isRoamError(e, "unavailable") && /"beta" is left.*'roam hosts'/.test(e.message),
    );
    assert.equal(await ask(a.mesh, id, "where"), "alpha");
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("agent.create and agent.dispatch place an agent on the best host that has the tags asked for, or say why none fits", async () => {
  const root = await Deno.makeTempDir({ prefix: "roam-place-" });
  try {
    await using pair = await peeredHosts(root, { tags: ["lab"] });
    const { a, b } = pair;
    // beta's tags come with its record, fetched over HTTP once alpha hears of it.
    while (!(await a.mesh.mesh.hosts({})).hosts.some((h) => h.tags.includes("lab"))) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await installPluginDir(a.mesh, TOURIST);

    // beta lacks the plugin: alpha installs it there first.
    const placed = await a.mesh.agent.create({ plugin: "tourist", to: { tags: ["lab"] } });
    assert.deepEqual(placed.host, { id: b.t.host.id, name: "beta", url: b.t.host.url });
    assert.equal(await ask(b.mesh, placed.id, "where"), "beta");

    // Leaving beta, the only other host is alpha.
    const moved = await b.mesh.agent.dispatch({ id: placed.id, to: {} });
    assert.equal(moved.location, a.t.host.url);
    assert.equal(await ask(a.mesh, placed.id, "where"), "alpha");

    const none = await failure(a.mesh.agent.create({ plugin: "tourist", to: { tags: ["gpu"] } }));
    assert.equal(none.code, "not_found");
    assert.match(none.message, /alpha lacks the tag gpu; beta lacks the tag gpu/);
    const here = await failure(b.mesh.agent.dispatch({ id: placed.id, to: { tags: ["lab"] } }));
    assert.equal(here.code, "not_found");
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
