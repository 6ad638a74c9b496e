import type { ArtifactMesh } from "./mesh.ts";
import type { ArtifactStore } from "./store.ts";

/** A file of an agent as it travels: its name and its blob. */
export interface AgentFileRef {
  name: string;
  sha256: string;
  size: number;
}

/**
 * An agent's registered files, kept as artifacts: each is a blob pinned by
 * `agent:<id>` under a file name (`artifact.pin {sha256, holder:
 * "agent:<id>", name}`). On dispatch and clone the envelope carries their
 * references; the target fetches the blobs from the source (checking each
 * sha256) before it acknowledges, and pins them for the agent (or its
 * clone); the source releases its pins once the agent has left.
 */
export class AgentFiles {
  readonly #store: ArtifactStore;
  readonly #mesh: ArtifactMesh;

  /** Keep agents' files in `store`, fetched through `mesh`. */
  constructor(store: ArtifactStore, mesh: ArtifactMesh) {
    this.#store = store;
    this.#mesh = mesh;
  }

  /** The files agent `id` holds here. */
  list(id: string): AgentFileRef[] {
    return this.#store.heldBy(holder(id)).flatMap((f) =>
      f.name === null ? [] : [{ name: f.name, sha256: f.sha256, size: f.size }]
    );
  }

  /** Keep `bytes` as agent `id`'s file `name`, replacing (unpinning) a file of that name. */
  async put(id: string, name: string, bytes: Uint8Array): Promise<AgentFileRef> {
    const { sha256, size } = await this.#store.putBytes(bytes, { name, owner: holder(id) });
    const before = this.list(id).find((f) => f.name === name);
    if (before?.sha256 === sha256) return { name, sha256, size };
    await this.#store.pin(sha256, holder(id), name);
    if (before) await this.#store.unpin(before.sha256, holder(id));
    return { name, sha256, size };
  }

  /** The bytes of agent `id`'s file `name`, or null. */
  async get(id: string, name: string): Promise<Uint8Array | null> {
    const file = this.list(id).find((f) => f.name === name);
    return file ? await this.#store.getBytes(file.sha256) : null;
  }

  /** Let go of agent `id`'s file `name`; false when it had none. */
  async delete(id: string, name: string): Promise<boolean> {
    const file = this.list(id).find((f) => f.name === name);
    if (!file) return false;
    await this.#store.unpin(file.sha256, holder(id));
    return true;
  }

  /** Make sure every file's blob is here, fetching missing ones from `source` (checked). */
  async receive(files: readonly AgentFileRef[], source: string): Promise<void> {
    for (const file of files) {
      if (await this.#store.has(file.sha256)) continue;
      await this.#mesh.fetch(file.sha256, { from: [source] });
    }
  }

  /** Pin the files for agent `id` on this host. */
  async hold(files: readonly AgentFileRef[], id: string): Promise<void> {
    for (const file of files) await this.#store.pin(file.sha256, holder(id), file.name);
  }

  /** Agent `id` left this host or is gone: drop its pins (the blobs go after the grace period). */
  release(id: string): void {
    this.#store.releaseHolder(holder(id));
  }
}

function holder(id: string): string {
  return `agent:${id}`;
}
