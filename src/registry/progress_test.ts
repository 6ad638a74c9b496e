import assert from "node:assert/strict";
import { MAX_PROGRESS_ENTRIES, ProgressBoard } from "./progress.ts";

Deno.test("progress entries merge their changes and the oldest go past the bound", () => {
  const board = new ProgressBoard();
  board.update("a", { name: "hello", phase: "downloading", total: 10 });
  board.update("a", { received: 4 });
  assert.deepEqual(
    { ...board.get("a"), updatedAt: "" },
    { id: "a", name: "hello", phase: "downloading", received: 4, total: 10, updatedAt: "" },
  );
  board.update(undefined, { name: "ignored" });
  for (let i = 0; i < MAX_PROGRESS_ENTRIES; i++) board.update(`n${i}`, { name: "x" });
  assert.equal(board.get("a"), undefined);
  assert.equal(board.get(`n${MAX_PROGRESS_ENTRIES - 1}`)?.name, "x");
});
