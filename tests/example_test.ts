import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { startTestHost } from "./support/host.ts";

Deno.test("examples/health.ts runs with plain deno run permissions against a host", async () => {
  await using t = await startTestHost({ name: "example" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-read=${t.dataDir}`,
      "--allow-env",
      new URL("../examples/health.ts", import.meta.url).pathname,
    ],
    env: { ROAM_DATA_DIR: t.dataDir, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(stdout, /^host answers: roam \d+\.\d+\.\d+$/m);
  assert.match(stdout, /^example \([0-9a-f-]{36}\) at http:\/\/127\.0\.0\.1:\d+/m);
  assert.match(stdout, /#1 host\.started/);
});

Deno.test("the typed client checks results and routes subscriptions over a WebSocket", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    const heard: string[] = [];
    let arrived!: () => void;
    const done = new Promise<void>((resolve) => arrived = resolve);
    const sub = await mesh.subscribe({ types: ["test."] }, (e) => {
      heard.push(e.type);
      if (e.type === "test.two") arrived();
    });
    t.host.events.append("other.thing");
    t.host.events.append("test.one");
    t.host.events.append("test.two");
    await done;
    assert.deepEqual(heard, ["test.one", "test.two"]);
    await sub.close();
    const direct = await mesh.call("events.since", { since: 0, limit: 1 });
    assert.equal(direct.events[0].type, "host.started");
  } finally {
    await mesh.close();
  }
});
