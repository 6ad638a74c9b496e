import assert from "node:assert/strict";
import { ReplayGuard } from "./replay.ts";

const now = 1_000_000;

Deno.test("each packet of a sender is accepted once, in or out of order within the window", () => {
  const guard = new ReplayGuard({ maxSkewMs: 30_000, window: 64 });
  assert.equal(guard.check("a", 1, 10, now, now), "ok");
  assert.equal(guard.check("a", 1, 10, now, now), "replayed");
  assert.equal(guard.check("a", 1, 12, now, now), "ok");
  assert.equal(guard.check("a", 1, 11, now, now), "ok", "late but new");
  assert.equal(guard.check("a", 1, 11, now, now), "replayed");
  assert.equal(
    guard.check("a", 1, 9, now, now),
    "ok",
    "older than the first seen, inside the window",
  );
  assert.equal(guard.check("a", 1, 200, now, now), "ok");
  assert.equal(guard.check("a", 1, 200 - 64, now, now), "replayed", "fell out of the window");
  assert.equal(guard.check("a", 1, 200 - 63, now, now), "ok");
  assert.equal(guard.check("a", 1, 12, now, now), "replayed");
  // Other senders have their own counters.
  assert.equal(guard.check("b", 1, 10, now, now), "ok");
});

Deno.test("a new epoch (a restarted sender) starts afresh; an older epoch is refused", () => {
  const guard = new ReplayGuard({ maxSkewMs: 30_000 });
  assert.equal(guard.check("a", 1, 500, now, now), "ok");
  assert.equal(guard.check("a", 2, 1, now, now), "ok");
  assert.equal(guard.check("a", 2, 1, now, now), "replayed");
  assert.equal(guard.check("a", 1, 501, now, now), "replayed");
});

Deno.test("a packet stamped outside the skew window is stale, and does not move the window", () => {
  const guard = new ReplayGuard({ maxSkewMs: 1_000 });
  assert.equal(guard.check("a", 1, 5, now - 1_001, now), "stale");
  assert.equal(guard.check("a", 1, 5, now + 1_001, now), "stale");
  assert.equal(guard.check("a", 1, 5, now - 1_000, now), "ok");
});

Deno.test("the guard remembers at most maxSenders, forgetting the least recently heard", () => {
  const guard = new ReplayGuard({ maxSkewMs: 1_000, maxSenders: 2 });
  guard.check("a", 1, 1, now, now);
  guard.check("b", 1, 1, now, now);
  guard.check("a", 1, 2, now, now);
  guard.check("c", 1, 1, now, now);
  assert.equal(guard.size, 2);
  assert.equal(guard.check("a", 1, 2, now, now), "replayed", "a was heard recently and kept");
  assert.equal(guard.check("b", 1, 1, now, now), "ok", "b was forgotten");
  guard.forget("b");
  assert.equal(guard.size, 1);
});
