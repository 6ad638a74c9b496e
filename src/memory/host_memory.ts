import type { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";
import { Memory } from "./memory.ts";
import type { BlobStore } from "./pools/blob_store.ts";
import { ChainPool } from "./pools/chain.ts";
import { LocalPool } from "./pools/local.ts";
import { MemoryPool } from "./pools/memory.ts";
import { PeerPool } from "./pools/peer.ts";
import type { Pool } from "./pools/pool.ts";
import { S3Pool } from "./pools/s3.ts";
import { readMemorySecrets } from "./secrets.ts";
import { TRANSFORMS } from "./transforms.ts";

const PoolName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, {
  message: "a pool name is 1 to 32 lowercase letters, digits, '_' or '-', starting with a letter",
});

/** The host's memory settings (`memory` in the host configuration). */
export const MemoryConfigSchema = z.object({
  /** The pool operations use when they name none. */
  defaultPool: z.string().min(1).max(64).default("local"),
  /** Transforms new records get, in order, for example `["gzip", "aes-256-gcm"]`. */
  transforms: z.array(z.enum(TRANSFORMS)).max(TRANSFORMS.length).default([]),
  /** The key (in the secrets file) new encrypted records use. */
  keyId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).default("default"),
  /** The memory secrets file (keys, S3 pools). Default `DATA_DIR/memory-secrets.json`. */
  secretsFile: z.string().min(1).optional(),
  /**
   * Bounds of each in-process cache: the `memory` pool and the first tier of
   * every chain (so N pools hold at most N times these).
   */
  cache: z.object({
    maxEntries: z.number().int().min(1).max(10_000_000).default(10_000),
    maxBytes: z.number().int().min(1024).default(64 * 1024 * 1024),
  }).strict().default({ maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 }),
  /** How long a record cached on disk for a remote pool (peer or S3) is kept after it was fetched. */
  cacheTtlMs: z.number().int().min(1_000).default(24 * 3600_000),
  /** Other hosts' local pools, by the name they get here. */
  peers: z.record(
    PoolName,
    z.object({ url: z.string().url(), pool: z.string().default("local") }).strict(),
  )
    .default({}),
  /** Largest value one entry may hold. */
  maxValueBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
}).strict();

/** The memory settings, defaults filled in. */
export type MemoryConfig = z.output<typeof MemoryConfigSchema>;

/** A host's memory: its pools and the local pools peers may use through `memory.record*`. */
export interface HostMemory {
  /** Entries in the host's pools. */
  memory: Memory;
  /** The local pools by name (`local`), which peers reach through `memory.record*`. */
  locals: ReadonlyMap<string, LocalPool>;
  /** Close the pools. */
  close(): Promise<void>;
}

/** What {@linkcode createHostMemory} needs. */
export interface HostMemoryOptions {
  /** The host database (table `memory_records`). */
  db: DatabaseSync;
  /** The host's data dir. */
  dataDir: string;
  /** The settings. */
  config: MemoryConfig;
  /** The blob store local pools keep records in. */
  blobs: BlobStore;
  /** Mints a token for peer hosts (same mesh secret). */
  token: () => string;
}

/** The memory secrets file of a data dir, unless the settings name one. */
export function secretsPath(dataDir: string, config: Pick<MemoryConfig, "secretsFile">): string {
  return config.secretsFile ?? join(dataDir, "memory-secrets.json");
}

/**
 * Build a host's pools: `memory` (bounded, this process only), `local` (an
 * in-process cache in front of the host's blob store), one chain per S3
 * pool of the secrets file and per configured peer (in-process cache, then
 * a local cache pool `cache-NAME`, then the remote).
 */
export async function createHostMemory(options: HostMemoryOptions): Promise<HostMemory> {
  const { config } = options;
  const secrets = await readMemorySecrets(secretsPath(options.dataDir, config));
  const cache = (name: string) => new MemoryPool(`${name}.cache`, config.cache);
  const local = new LocalPool({ name: "local", db: options.db, blobs: options.blobs });
  const pools: Record<string, Pool> = {
    memory: new MemoryPool("memory", config.cache),
    local: new ChainPool("local", [cache("local"), local]),
  };
  const remote = (name: string, origin: Pool) => {
    if (pools[name]) {
      throw new RoamError("invalid_input", `two memory pools are named "${name}"`, { pool: name });
    }
    // A cache tier: its blobs are not pinned, so the blob store may collect them.
    const disk = new LocalPool({
      name: `cache-${name}`,
      db: options.db,
      blobs: options.blobs,
      pin: false,
      ttlMs: config.cacheTtlMs,
    });
    pools[name] = new ChainPool(name, [cache(name), disk, origin]);
  };
  for (const [name, secret] of Object.entries(secrets.s3)) {
    remote(name, new S3Pool({ name, secret }));
  }
  for (const [name, peer] of Object.entries(config.peers)) {
    remote(name, new PeerPool({ name, url: peer.url, pool: peer.pool, token: options.token }));
  }
  const memory = new Memory({
    pools,
    defaultPool: config.defaultPool,
    transforms: config.transforms,
    keys: secrets.keys,
    keyId: config.keyId,
    maxValueBytes: config.maxValueBytes,
  });
  return { memory, locals: new Map([["local", local]]), close: () => memory.close() };
}

/**
 * One pool opened without a running host (for `roam host --from-manifest`):
 * `local` (the data dir's own pool), an S3 pool of the secrets file, or a
 * peer host given by URL.
 */
export async function openPoolOffline(options: {
  db: DatabaseSync;
  dataDir: string;
  pool: string;
  config?: Partial<MemoryConfig>;
  blobs?: BlobStore;
  token?: () => string;
}): Promise<Memory> {
  const config = MemoryConfigSchema.parse(options.config ?? {});
  const secrets = await readMemorySecrets(secretsPath(options.dataDir, config));
  let pool: Pool;
  if (options.pool === "local") {
    pool = new LocalPool({
      name: "local",
      db: options.db,
      blobs: localBlobs(options.blobs),
    });
  } else if (secrets.s3[options.pool]) {
    pool = new S3Pool({ name: options.pool, secret: secrets.s3[options.pool] });
  } else if (/^https?:\/\//.test(options.pool)) {
    if (!options.token) throw new RoamError("invalid_input", "a peer pool needs a token");
    pool = new PeerPool({ name: "peer", url: options.pool, token: options.token });
  } else if (config.peers[options.pool]) {
    if (!options.token) throw new RoamError("invalid_input", "a peer pool needs a token");
    const peer = config.peers[options.pool];
    pool = new PeerPool({
      name: options.pool,
      url: peer.url,
      pool: peer.pool,
      token: options.token,
    });
  } else {
    throw new RoamError(
      "not_found",
      `no pool "${options.pool}" without a running host: use local, an S3 pool of the memory secrets file${
        Object.keys(secrets.s3).length ? ` (${Object.keys(secrets.s3).join(", ")})` : ""
      }, or a host URL`,
      { pool: options.pool },
    );
  }
  return new Memory({ pools: { [pool.name]: pool }, defaultPool: pool.name, keys: secrets.keys });
}

/** The blob store a `local` pool opened offline needs (the data dir's ArtifactStore). */
function localBlobs(blobs: BlobStore | undefined): BlobStore {
  if (!blobs) {
    throw new RoamError(
      "invalid_input",
      "the local pool needs the data dir's blob store (an ArtifactStore)",
      {},
    );
  }
  return blobs;
}
