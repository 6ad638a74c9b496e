import assert from "node:assert/strict";
import { BroadcastQueue, retransmitLimit } from "./broadcast.ts";
import type { WireMember } from "./packet.ts";

const wire = (s: WireMember["s"], i: string): WireMember => ({
  i,
  n: i,
  u: "http://10.0.0.2:7420",
  g: 7420,
  e: 1,
  c: 0,
  s,
});

Deno.test("the broadcast queue sends least-sent news first, within the byte budget, a limited number of times", () => {
  const queue = new BroadcastQueue();
  const a = wire("a", "a");
  const b = wire("s", "b");
  queue.enqueue(a);
  queue.enqueue(b);
  assert.ok(queue.hasFresh());
  const one = JSON.stringify(a).length + 1;
  assert.deepEqual(queue.take(one, 2).map((u) => u.i), ["a"]);
  assert.deepEqual(queue.take(1000, 2).map((u) => u.i), ["b", "a"], "b was sent less");
  assert.equal(queue.size, 1, "a reached its limit");
  assert.deepEqual(queue.take(1000, 2, new Set(["b"])), []);
  queue.enqueue(wire("d", "b"));
  assert.deepEqual(queue.take(1000, 2).map((u) => u.s), ["d"], "newer news replaces the old");
  assert.equal(retransmitLimit(1), 3);
  assert.equal(retransmitLimit(5), 9);
  assert.equal(retransmitLimit(50), 18);
});
