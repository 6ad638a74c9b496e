import assert from "node:assert/strict";
import { isRoamError } from "../errors/mod.ts";
import { Mailbox } from "./mailbox.ts";
import type { Message } from "./sdk/mod.ts";

const msg = (kind: string, priority = 5): Message => ({
  kind,
  args: null,
  from: null,
  priority,
  id: kind,
});

/** A deliver function whose handlers finish only when the test says so. */
function controlled() {
  const log: string[] = [];
  const gates = new Map<string, () => void>();
  let running = 0;
  const deliver = (m: Message) => {
    log.push(`start ${m.kind}`);
    running++;
    assert.ok(
      m.priority === 0 || running <= 1 + [...gates.keys()].filter((k) => k.startsWith("u")).length,
    );
    return new Promise<unknown>((resolve) =>
      gates.set(m.kind, () => {
        running--;
        log.push(`end ${m.kind}`);
        resolve(m.kind);
      })
    );
  };
  const open = async (kind: string) => {
    while (!gates.has(kind)) await new Promise((r) => setTimeout(r, 0));
    gates.get(kind)!();
  };
  return { log, deliver, open };
}

Deno.test("higher priority first, first-in-first-out within a priority, one handler at a time", async () => {
  const c = controlled();
  const box = new Mailbox(c.deliver, { capacity: 10 });
  const replies = [
    box.send(msg("a", 5), 1000),
    box.send(msg("b", 1), 1000),
    box.send(msg("c", 9), 1000),
    box.send(msg("d", 5), 1000),
    box.send(msg("e", 9), 1000),
  ];
  for (const kind of ["a", "c", "e", "d", "b"]) await c.open(kind);
  assert.deepEqual(await Promise.all(replies), ["a", "b", "c", "d", "e"]);
  assert.deepEqual(c.log, [
    "start a",
    "end a",
    "start c",
    "end c",
    "start e",
    "end e",
    "start d",
    "end d",
    "start b",
    "end b",
  ]);
});

Deno.test("priority 0 bypasses the queue and runs beside the busy handler", async () => {
  const c = controlled();
  const box = new Mailbox(c.deliver, { capacity: 10 });
  const slow = box.send(msg("a"), 1000);
  const queued = box.send(msg("b"), 1000);
  const urgent = box.send(msg("u", 0), 1000);
  await c.open("u");
  assert.equal(await urgent, "u");
  assert.deepEqual(c.log, ["start a", "start u", "end u"]);
  await c.open("a");
  await c.open("b");
  await Promise.all([slow, queued]);
});

Deno.test("a full mailbox refuses with queue_full; drain and fail empty it", async () => {
  const c = controlled();
  const box = new Mailbox(c.deliver, { capacity: 2 });
  const running = box.send(msg("a"), 1000);
  const waiting = [box.send(msg("b"), 1000), box.send(msg("c"), 1000)];
  await assert.rejects(box.send(msg("d"), 1000), (e) => isRoamError(e, "queue_full"));
  assert.equal(box.size, 2);
  box.fail(new Error("gone"));
  for (const w of waiting) await assert.rejects(w, /gone/);
  assert.equal(box.size, 0);
  await c.open("a");
  await running;
});
