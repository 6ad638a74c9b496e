import { openStore } from "../../src/store/mod.ts";
import { ArtifactsConfigSchema, ArtifactStore } from "../../src/artifacts/mod.ts";
import { LocalPool, Memory, type MemoryOptions, MemoryPool } from "../../src/memory/mod.ts";

/** A local pool over an ArtifactStore in a temporary dir and an in-memory index, for memory tests. */
export async function tempLocalPool(name = "local") {
  const dir = await Deno.makeTempDir({ prefix: "roam-memory-test-" });
  const db = openStore({ path: ":memory:" });
  const blobs = new ArtifactStore({ db, dataDir: dir, config: ArtifactsConfigSchema.parse({}) });
  await blobs.init();
  const pool = new LocalPool({ name, db, blobs });
  return {
    pool,
    blobs,
    db,
    dir,
    async [Symbol.asyncDispose]() {
      await blobs.stop();
      db.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A memory with a local pool (the default) and a memory pool. */
export async function tempMemory(options: Partial<MemoryOptions> = {}) {
  const local = await tempLocalPool();
  const memory = new Memory({
    pools: { local: local.pool, memory: new MemoryPool("memory") },
    ...options,
  });
  return {
    memory,
    local,
    async [Symbol.asyncDispose]() {
      await memory.close();
      await local[Symbol.asyncDispose]();
    },
  };
}

/** The error `fn` rejects with; fails the test when it resolves. */
export async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, but it resolved");
}
