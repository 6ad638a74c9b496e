import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { roam } from "./support/cli.ts";
import { startTestHost } from "./support/host.ts";

const FIXTURE = new URL("./fixtures/agents", import.meta.url).pathname;

Deno.test("ctx: sendFuture, sendOneway and timers (after, every, cancel) deliver through the mailbox", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  const added = await roam(["--data-dir", t.dataDir, "plugin", "add", FIXTURE]);
  assert.equal(added.code, 0, added.stderr);
  const { id: a } = await mesh.agent.create({ plugin: "lifecycle" });
  const { id: b } = await mesh.agent.create({ plugin: "lifecycle" });

  const future = await mesh.agent.send({ id: a, kind: "future", args: { to: b, value: { x: 1 } } });
  assert.deepEqual(future.reply, { before: false, after: true, reply: { x: 1 } });

  const gotOneway = mesh.agent.send({ id: b, kind: "await-record", args: "hello", priority: 0 });
  await mesh.agent.send({
    id: a,
    kind: "oneway-to",
    args: { to: b, kind: "record", args: "hello" },
  });
  assert.equal((await gotOneway).reply, true);

  const after = mesh.agent.send({ id: a, kind: "await-record", args: "after", priority: 0 });
  await mesh.agent.send({ id: a, kind: "timer-after", args: 20 });
  assert.equal((await after).reply, true);

  const every = mesh.agent.send({ id: a, kind: "await-record", args: "every", priority: 0 });
  await mesh.agent.send({ id: a, kind: "timer-every", args: 10 });
  assert.equal((await every).reply, true);
  await mesh.agent.send({ id: a, kind: "timer-cancel" });
  const hooks = (await mesh.agent.send({ id: a, kind: "hooks" })).reply as string[];
  assert.ok(hooks.filter((h) => h === 'record:"every"').length >= 1);
  assert.ok(hooks.includes('record:"after"'));
});
