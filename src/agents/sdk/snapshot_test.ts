import assert from "node:assert/strict";
import { assertJsonSafe, SerializationError } from "./snapshot.ts";

Deno.test("plain JSON data passes the snapshot check", () => {
  assertJsonSafe({
    a: 1,
    b: "x",
    c: [true, null, { d: 2.5 }],
    e: Object.create(null),
    f: undefined,
  });
});

Deno.test("functions, cycles, class instances and odd numbers are refused with their path", () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  const cases: [unknown, RegExp][] = [
    [{ fn: () => 1 }, /^state\.fn is a function/],
    [cycle, /^state\.self is a cycle/],
    [{ when: new Date() }, /^state\.when is an instance of Date/],
    [{ m: new Map() }, /^state\.m is an instance of Map/],
    [{ list: [1, undefined] }, /^state\.list\[1\] is undefined/],
    [{ n: NaN }, /^state\.n is NaN/],
    [{ n: 10n }, /^state\.n is a bigint/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(
      () => assertJsonSafe(value),
      (e) => e instanceof SerializationError && pattern.test(e.message),
    );
  }
});

Deno.test("the same object twice (not a cycle) is fine", () => {
  const shared = { x: 1 };
  assertJsonSafe({ a: shared, b: shared });
});
