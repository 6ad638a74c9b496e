import { join } from "node:path";
import { readSecret, TokenSigner } from "../security/mod.ts";
import { openStore } from "../store/mod.ts";
import { type ConfigSnapshot, importConfig } from "./config_snapshot.ts";
import type { BlobStore } from "./pools/blob_store.ts";
import { openPoolOffline } from "./host_memory.ts";
import { ArtifactsConfigSchema, ArtifactStore } from "../artifacts/mod.ts"; // artifacts

/** Options for {@linkcode readConfigSnapshot}. */
export interface ReadSnapshotOptions {
  /** The data dir of the host to be started (its database and blobs hold the `local` pool). */
  dataDir: string;
  /** `local`, an S3 pool of the memory secrets file, or a host URL. */
  pool: string;
  /** The nickname the snapshot was exported under. */
  nickname: string;
  /** The mesh secret (for a peer pool's token). Default `DATA_DIR/secret`. */
  secretFile?: string;
  /** The blob store of the local pool. Default the data dir's ArtifactStore. */
  blobs?: BlobStore;
}

/**
 * Read a configuration snapshot before any host runs, for `roam host
 * --from-manifest`: opens the pool on its own, reads the manifest's latest
 * evolution, closes everything again.
 */
export async function readConfigSnapshot(
  options: ReadSnapshotOptions,
): Promise<ConfigSnapshot & { id: string }> {
  await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const db = openStore({ path: join(options.dataDir, "roam.db") });
  try {
    const token = async () => {
      const secret = await readSecret(options.secretFile ?? join(options.dataDir, "secret"));
      return new TokenSigner(secret.bytes).mint({ subject: "roam:config-import", ttlMs: 120_000 });
    };
    const minted = /^https?:\/\//.test(options.pool) ? await token() : undefined;
    // artifacts: the local pool's records live in the data dir's ArtifactStore.
    let blobs = options.blobs;
    if (!blobs && options.pool === "local") {
      const store = new ArtifactStore({
        db,
        dataDir: options.dataDir,
        config: ArtifactsConfigSchema.parse({}),
      });
      await store.init();
      blobs = store;
    }
    const memory = await openPoolOffline({
      db,
      dataDir: options.dataDir,
      pool: options.pool,
      blobs,
      token: minted === undefined ? undefined : () => minted,
    });
    try {
      return await importConfig(memory, { nickname: options.nickname });
    } finally {
      await memory.close();
    }
  } finally {
    db.close();
  }
}
