import type { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";
import type { ArtifactsConfig } from "./config.ts";
import { localHash, WorkerHasher } from "./hasher.ts";
import { Incoming } from "./incoming.ts";
import { ArtifactIndex, type BlobRow, type ListFilter, type Pin } from "./index.ts";
import { BatchedWriter, fileStream } from "./stream.ts";

/** A sha256 as the store names blobs: 64 lowercase hex digits. */
export const SHA256_PATTERN: RegExp = /^[0-9a-f]{64}$/;

/** A pin holder: `agent:<id>`, `entry:<id>`, `job:<id>`, `user` or `user:<name>`. */
export const HOLDER_PATTERN: RegExp =
  /^(user(:[A-Za-z0-9._@-]{1,128})?|(agent|entry|job):[A-Za-z0-9._:@/+=-]{1,400})$/;

/** Names a blob may be stored with. */
export interface BlobMeta {
  /** A file name, for people. */
  name?: string;
  /** A media type, sent back as Content-Type. */
  mediaType?: string;
  /** Who stored it (a token subject, an agent id). */
  owner?: string;
}

/** Options for {@linkcode ArtifactStore.put}. */
export interface PutOptions extends BlobMeta {
  /** The sha256 the bytes must have; anything else is refused and nothing is kept. */
  sha256?: string;
  /** The size the sender announced; a body of another length is refused. */
  size?: number;
  /** When the blob expires (ms since the epoch); null or absent: never. */
  expiresAt?: number | null;
  /** Stops the upload; nothing is kept. */
  signal?: AbortSignal;
}

/** What {@linkcode ArtifactStore.put} stored. */
export interface PutResult {
  sha256: string;
  size: number;
  /** False when the store held these bytes already (nothing new was written). */
  created: boolean;
  /** When the blob was first stored (ms since the epoch). */
  createdAt: number;
}

/** A blob with its pins, as `stat` and `list` return it. */
export interface BlobInfo extends BlobRow {
  pins: Pin[];
}

/** Part of a blob opened for reading. */
export interface OpenedBlob {
  /** The whole blob's size; undefined for a blob still arriving whose sender gave none. */
  size: number | undefined;
  /** First byte of the part. */
  start: number;
  /** Bytes in the part; undefined when not known yet. */
  length: number | undefined;
  mediaType: string | null;
  /** False while the blob is still arriving (it is verified when it ends). */
  complete: boolean;
  /** The bytes; cancel it when not read to the end. */
  stream: ReadableStream<Uint8Array>;
}

/** What one garbage collection removed. */
export interface GcResult {
  removed: { sha256: string; size: number; reason: "expired" | "released" }[];
  freedBytes: number;
  /** Temporary files of abandoned uploads removed. */
  parts: number;
}

/** Options for {@linkcode ArtifactStore}. */
export interface ArtifactStoreOptions {
  /** The host's database, with the `artifacts` migration applied. */
  db: DatabaseSync;
  /** The host's data dir; blobs live in `DATA_DIR/artifacts/blobs`. */
  dataDir: string;
  config: ArtifactsConfig;
  /** Told about blobs stored and removed. */
  onEvent?: (type: string, data: Record<string, unknown>, subject: string) => void;
  log?: (line: string) => void;
}

const PART_PREFIX = ".part-";
/** Uploads announced at least this big are hashed in the worker, beside the main thread. */
const WORKER_HASH_MIN_BYTES = 8 * 1024 * 1024;
/** Most callers waiting at once for blobs to appear. */
const MAX_WAITERS = 1024;

/**
 * Blobs addressed by their sha256 on one host: the bytes in
 * `DATA_DIR/artifacts/blobs/<sha256>`, the metadata (size, created, owner,
 * name, media type, expiry, pins) in SQLite.
 *
 * An upload streams into a temporary file in the same directory while it
 * is hashed; only when the whole body has arrived, matches the expected
 * sha256 (when one was given) and is synced to disk is it renamed into
 * place and recorded, so a blob is either whole and verified or absent.
 * The same bytes stored twice are kept once. Quotas bound each blob and the
 * total. A blob that expired or whose last pin was removed more than the
 * grace period ago, and that no one pins, is removed by garbage collection;
 * a pinned blob never is.
 *
 * @example
 * const store = new ArtifactStore({ db, dataDir, config: ArtifactsConfigSchema.parse({}) });
 * await store.init();
 * const { sha256 } = await store.putBytes(new TextEncoder().encode("hi"), { name: "hi.txt" });
 * await store.pin(sha256, "user");
 */
export class ArtifactStore {
  readonly #index: ArtifactIndex;
  readonly #dir: string;
  readonly #config: ArtifactsConfig;
  readonly #onEvent: NonNullable<ArtifactStoreOptions["onEvent"]>;
  readonly #log: (line: string) => void;
  readonly #parts = new Set<string>();
  readonly #incoming = new Map<string, Incoming>();
  readonly #waiters = new Map<string, Set<() => void>>();
  #waiting = 0;
  #used = 0;
  #inflight = 0;
  #uploads = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #collecting: Promise<GcResult> | undefined;
  readonly #hasher = new WorkerHasher();

  /** Make the store; call {@linkcode ArtifactStore.init} before use. */
  constructor(options: ArtifactStoreOptions) {
    this.#index = new ArtifactIndex(options.db);
    this.#dir = join(options.dataDir, "artifacts", "blobs");
    this.#config = options.config;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#log = options.log ?? (() => {});
  }

  /** Where blobs live. */
  get dir(): string {
    return this.#dir;
  }

  /** The limits it runs with. */
  get config(): ArtifactsConfig {
    return this.#config;
  }

  /**
   * Make the directory, remove temporary files a previous run left, and
   * make disk and database agree: a blob file without a row (the host
   * stopped between the rename and the record) is recorded as released, so
   * it goes at the next collection after the grace period unless someone
   * stores or pins it; a row without a file is dropped.
   */
  async init(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const onDisk = new Set<string>();
    for await (const entry of Deno.readDir(this.#dir)) {
      if (entry.name.startsWith(PART_PREFIX)) {
        await Deno.remove(join(this.#dir, entry.name)).catch(() => {});
      } else if (SHA256_PATTERN.test(entry.name)) onDisk.add(entry.name);
    }
    for (const sha256 of this.#index.hashes()) {
      if (!onDisk.delete(sha256)) this.#index.remove(sha256);
    }
    for (const sha256 of onDisk) {
      const stat = await Deno.stat(this.#path(sha256));
      this.#index.insert({
        sha256,
        size: stat.size,
        createdAt: stat.mtime?.getTime() ?? Date.now(),
        owner: null,
        name: null,
        mediaType: null,
        expiresAt: null,
      });
      this.#index.release(sha256, Date.now());
      this.#log(`roam: artifacts: found blob ${sha256} without a record; it is kept as released`);
    }
    this.#used = this.#index.usage().used;
  }

  /** Collect garbage now and then every `gcIntervalMs`. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.gc().catch((error) => this.#log(`roam: artifacts gc: ${error.message}`));
    }, this.#config.gcIntervalMs);
  }

  /** Stop the collection timer (uploads in progress finish or fail on their own). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#hasher.close();
    await this.#collecting?.catch(() => {});
    for (const waiters of this.#waiters.values()) for (const wake of waiters) wake();
  }

  /** Bytes stored, blobs stored, and the limits. */
  usage(): { usedBytes: number; blobs: number; quotaBytes: number; maxBlobBytes: number } {
    return {
      usedBytes: this.#used,
      blobs: this.#index.usage().count,
      quotaBytes: this.#config.quotaBytes,
      maxBlobBytes: this.#config.maxBlobBytes,
    };
  }

  /**
   * Store a stream of bytes. Never holds more than one chunk in memory;
   * nothing is visible until the bytes are whole, verified and on disk.
   *
   * @throws {RoamError} `too_large` past the blob limit, `quota_exceeded`
   * past the total, `invalid_input` when the bytes do not match `sha256` or
   * `size`, `timeout` when the body stalls, `cancelled` on `signal`.
   */
  async put(body: ReadableStream<Uint8Array>, options: PutOptions = {}): Promise<PutResult> {
    const expected = options.sha256;
    if (expected !== undefined && !SHA256_PATTERN.test(expected)) {
      await body.cancel().catch(() => {});
      throw new RoamError("invalid_input", `"${expected}" is not a sha256 (64 hex digits)`, {
        sha256: expected,
      });
    }
    const meta = cleanMeta(options);
    const expiresAt = options.expiresAt ?? null;
    if (expected !== undefined && this.#present(expected)) {
      // Stored already: nothing to read or make room for.
      await body.cancel().catch(() => {});
      return this.#again(expected, meta, expiresAt);
    }
    if (this.#uploads >= this.#config.maxConcurrentUploads) {
      await body.cancel().catch(() => {});
      throw new RoamError(
        "queue_full",
        `${this.#uploads} uploads are being written already, the most this host takes at once; try again shortly`,
        { limit: this.#config.maxConcurrentUploads },
      );
    }
    // Counted before the first await, so that uploads starting together see each other.
    this.#uploads++;
    try {
      try {
        if (options.size !== undefined) this.#checkBlobSize(options.size);
        await this.#ensureRoom(options.size ?? 0);
      } catch (error) {
        await body.cancel().catch(() => {});
        throw error;
      }
      return await this.#write(body, options, meta, expiresAt);
    } finally {
      this.#uploads--;
    }
  }

  async #write(
    body: ReadableStream<Uint8Array>,
    options: PutOptions,
    meta: ReturnType<typeof cleanMeta>,
    expiresAt: number | null,
  ): Promise<PutResult> {
    const expected = options.sha256;

    const tmp = join(this.#dir, `${PART_PREFIX}${crypto.randomUUID()}`);
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    this.#parts.add(tmp);
    let incoming: Incoming | undefined;
    if (expected !== undefined && !this.#incoming.has(expected)) {
      incoming = new Incoming(tmp, this.#path(expected), options.size);
      this.#incoming.set(expected, incoming);
      this.#wake(expected);
    }
    const reader = body.getReader();
    // Hashed per MiB batch, in order, while the previous batch is being written; big
    // uploads in the worker, so that hashing runs beside reading the socket.
    const hash = (options.size ?? 0) >= WORKER_HASH_MIN_BYTES ? this.#hasher.open() : localHash();
    let digested = false;
    const writer = new BatchedWriter(
      file,
      (n) => incoming?.progress(n),
      (data) => hash.update(data),
    );
    let size = 0;
    let counted = 0;
    let open = true;
    let placed = false;
    let lastByte = Date.now();
    let stalled = false;
    const idleMs = this.#config.idleTimeoutMs;
    const watchdog = setInterval(() => {
      if (Date.now() - lastByte < idleMs) return;
      stalled = true;
      reader.cancel().catch(() => {});
    }, Math.min(idleMs, 1000));
    const onAbort = () => reader.cancel().catch(() => {});
    options.signal?.addEventListener("abort", onAbort);
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (stalled) throw stall(idleMs, size);
        if (options.signal?.aborted) throw cancelled(size);
        if (done) break;
        lastByte = Date.now();
        size += value.byteLength;
        this.#checkBlobSize(size);
        this.#inflight += value.byteLength;
        counted += value.byteLength;
        if (this.#used + this.#inflight > this.#config.quotaBytes) throw this.#quotaError(0);
        // Gathered into 1 MiB writes, which run off the main thread.
        await writer.write(value);
      }
      await writer.finish();
      if (options.size !== undefined && size !== options.size) {
        throw new RoamError(
          "invalid_input",
          `the body ended after ${size} of the ${options.size} bytes announced; nothing was stored`,
          { size, expected: options.size },
        );
      }
      digested = true;
      const sha256 = await hash.digest();
      if (expected !== undefined && sha256 !== expected) {
        throw new RoamError(
          "invalid_input",
          `the bytes received have sha256 ${sha256}, not ${expected} as expected: they were damaged on the way or are not the blob asked for; nothing was stored`,
          { expected, actual: sha256, size, corrupted: true },
        );
      }
      await file.syncData();
      file.close();
      open = false;
      if (this.#present(sha256)) return this.#again(sha256, meta, expiresAt);
      await Deno.rename(tmp, this.#path(sha256));
      placed = true;
      await this.#syncDir();
      const createdAt = Date.now();
      // A row of an earlier copy whose file vanished is replaced.
      if (this.#index.get(sha256)) this.#forgetRow(sha256);
      this.#index.insert({ sha256, size, createdAt, ...meta, expiresAt });
      this.#used += size;
      incoming?.settle();
      this.#wake(sha256);
      this.#onEvent("artifact.stored", { size, name: meta.name }, sha256);
      return { sha256, size, created: true, createdAt };
    } catch (error) {
      const failure = error instanceof RoamError ? error : new RoamError(
        "unavailable",
        `the upload broke off after ${size} bytes (${
          (error as Error)?.message ?? error
        }); nothing was stored, send it again`,
        { size },
      );
      incoming?.settle(failure);
      throw failure;
    } finally {
      clearInterval(watchdog);
      options.signal?.removeEventListener("abort", onAbort);
      if (!digested) hash.drop();
      await writer.settled();
      if (open) file.close();
      if (!placed) await Deno.remove(tmp).catch(() => {});
      this.#parts.delete(tmp);
      this.#inflight -= counted;
      if (incoming && this.#incoming.get(expected!) === incoming) {
        if (!incoming.settled) incoming.settle(new Error("the upload ended"));
        this.#incoming.delete(expected!);
      }
      reader.releaseLock();
    }
  }

  /** Store bytes held in memory (small blobs: records, manifests). */
  async putBytes(
    bytes: Uint8Array,
    meta: BlobMeta & { expiresAt?: number | null } = {},
  ): Promise<{ sha256: string; size: number }> {
    const { sha256, size } = await this.put(
      new ReadableStream({
        start(controller) {
          controller.enqueue(bytes);
          controller.close();
        },
      }),
      { ...meta, size: bytes.byteLength },
    );
    return { sha256, size };
  }

  /**
   * Part of a stored blob (`start` to `end`, inclusive), or of one still
   * arriving under a known sha256 (followed as it grows); null when
   * neither.
   */
  async open(
    sha256: string,
    range: { start?: number; end?: number } = {},
  ): Promise<OpenedBlob | null> {
    const row = this.#visibleRow(sha256);
    const start = range.start ?? 0;
    if (row) {
      const end = Math.min(range.end ?? row.size - 1, row.size - 1);
      const length = Math.max(0, end - start + 1);
      let file: Deno.FsFile;
      try {
        file = await Deno.open(this.#path(sha256), { read: true });
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return null;
        throw error;
      }
      return {
        size: row.size,
        start,
        length,
        mediaType: row.mediaType,
        complete: true,
        stream: await fileStream(file, start, length),
      };
    }
    const incoming = this.#incoming.get(sha256);
    if (!incoming) return null;
    return {
      size: incoming.size,
      start,
      length: incoming.size === undefined ? undefined : Math.max(0, incoming.size - start),
      mediaType: null,
      complete: false,
      stream: incoming.follow(start),
    };
  }

  /** The size and media type of a blob stored or arriving here, or null. */
  peek(
    sha256: string,
  ): { size: number | undefined; mediaType: string | null; complete: boolean } | null {
    const row = this.#visibleRow(sha256);
    if (row) return { size: row.size, mediaType: row.mediaType, complete: true };
    const incoming = this.#incoming.get(sha256);
    return incoming ? { size: incoming.size, mediaType: null, complete: false } : null;
  }

  /** A whole blob in memory (small blobs only), or null. */
  async getBytes(sha256: string): Promise<Uint8Array | null> {
    if (!this.#visibleRow(sha256)) return null;
    try {
      return await Deno.readFile(this.#path(sha256));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  /** Whether the blob is stored here (and visible: not expired, or pinned). */
  has(sha256: string): Promise<boolean> {
    return Promise.resolve(this.#visibleRow(sha256) !== undefined);
  }

  /** Whether the blob is stored here or arriving now. */
  hasOrIncoming(sha256: string): boolean {
    return this.#visibleRow(sha256) !== undefined || this.#incoming.has(sha256);
  }

  /**
   * Wait up to `ms` for the blob to be stored here or to start arriving;
   * whether it did.
   */
  async whenAvailable(sha256: string, ms: number): Promise<boolean> {
    if (this.hasOrIncoming(sha256) || ms <= 0) return this.hasOrIncoming(sha256);
    if (this.#waiting >= MAX_WAITERS) {
      throw new RoamError("queue_full", `more than ${MAX_WAITERS} requests wait for blobs`, {
        limit: MAX_WAITERS,
      });
    }
    let set = this.#waiters.get(sha256);
    if (!set) this.#waiters.set(sha256, set = new Set());
    const waiters = set;
    this.#waiting++;
    let wake!: () => void;
    const timer = new Promise<void>((resolve) => {
      wake = resolve;
      waiters.add(wake);
    });
    const id = setTimeout(wake, ms);
    try {
      await timer;
    } finally {
      clearTimeout(id);
      waiters.delete(wake);
      if (waiters.size === 0) this.#waiters.delete(sha256);
      this.#waiting--;
    }
    return this.hasOrIncoming(sha256);
  }

  /** A stored blob's metadata and pins, or undefined. */
  stat(sha256: string): BlobInfo | undefined {
    const row = this.#visibleRow(sha256);
    return row && { ...row, pins: this.#index.pins(sha256) };
  }

  /** Stored blobs matching `filter`, newest first, with their pins. */
  list(filter: Partial<ListFilter> = {}): BlobInfo[] {
    return this.#index.list({ limit: 1000, offset: 0, ...filter })
      .map((row) => ({ ...row, pins: this.#index.pins(row.sha256) }));
  }

  /**
   * Remove a blob now. A pinned blob is refused (`conflict`, naming its
   * holders) unless `force`. Whether it was there.
   */
  async remove(sha256: string, options: { force?: boolean } = {}): Promise<boolean> {
    const row = this.#index.get(sha256);
    if (!row) return false;
    const pins = this.#index.pins(sha256);
    if (pins.length && !options.force) {
      throw new RoamError(
        "conflict",
        `blob ${sha256} is pinned by ${
          pins.map((p) => p.holder).join(", ")
        }; unpin it first ('roam artifact unpin'), or remove it anyway with --force`,
        { sha256, holders: pins.map((p) => p.holder) },
      );
    }
    this.#forgetRow(sha256);
    await Deno.remove(this.#path(sha256)).catch(() => {});
    this.#onEvent("artifact.removed", { size: row.size, reason: "removed" }, sha256);
    return true;
  }

  /** Keep a blob from garbage collection for `holder`, optionally under a name. */
  // deno-lint-ignore require-await
  async pin(sha256: string, holder: string, name?: string): Promise<void> {
    checkHolder(holder);
    // An expired blob not collected yet may still be pinned: the pin keeps it.
    if (!SHA256_PATTERN.test(sha256) || !this.#present(sha256)) {
      throw new RoamError("not_found", `no blob ${sha256} is stored on this host to pin`, {
        sha256,
      });
    }
    this.#index.pin(sha256, holder, name ?? null);
  }

  /** Drop `holder`'s pin (none: nothing happens). */
  async unpin(sha256: string, holder: string): Promise<void> {
    await this.dropPin(sha256, holder);
  }

  /** Drop `holder`'s pin. Whether there was one. */
  // deno-lint-ignore require-await
  async dropPin(sha256: string, holder: string): Promise<boolean> {
    checkHolder(holder);
    return this.#index.unpin(sha256, holder);
  }

  /** The blobs `holder` pins, with the names it gave them. */
  heldBy(holder: string): { sha256: string; name: string | null; size: number }[] {
    return this.#index.heldBy(holder).flatMap((p) => {
      const row = this.#index.get(p.sha256);
      return row ? [{ sha256: p.sha256, name: p.name, size: row.size }] : [];
    });
  }

  /** Drop every pin of `holder` (an agent that left or was disposed). How many. */
  releaseHolder(holder: string): number {
    let n = 0;
    for (const pin of this.#index.heldBy(holder)) {
      if (this.#index.unpin(pin.sha256, holder)) n++;
    }
    return n;
  }

  /**
   * Remove every unpinned blob that expired, or whose last pin was removed
   * more than `releaseGraceMs` ago, and temporary files of uploads that
   * ended without cleaning up (older than `partTtlMs`). A pinned blob is
   * never removed. With `dryRun`, only say what would go.
   */
  gc(options: { dryRun?: boolean; now?: number } = {}): Promise<GcResult> {
    if (options.dryRun) return Promise.resolve(this.#gc(true, options.now ?? Date.now()));
    this.#collecting ??= this.#gc(false, options.now ?? Date.now()).finally(() =>
      this.#collecting = undefined
    );
    return this.#collecting;
  }

  async #gc(dryRun: boolean, now: number): Promise<GcResult> {
    const removed: GcResult["removed"] = [];
    let freedBytes = 0;
    for (const row of this.#index.garbage(now, now - this.#config.releaseGraceMs)) {
      const reason = row.expiresAt !== null && row.expiresAt <= now ? "expired" : "released";
      removed.push({ sha256: row.sha256, size: row.size, reason });
      freedBytes += row.size;
      if (dryRun) continue;
      this.#forgetRow(row.sha256);
      await Deno.remove(this.#path(row.sha256)).catch(() => {});
      this.#onEvent("artifact.removed", { size: row.size, reason }, row.sha256);
    }
    let parts = 0;
    for await (const entry of Deno.readDir(this.#dir)) {
      if (!entry.name.startsWith(PART_PREFIX)) continue;
      const path = join(this.#dir, entry.name);
      if (this.#parts.has(path)) continue;
      const stat = await Deno.stat(path).catch(() => undefined);
      if (!stat || now - (stat.mtime?.getTime() ?? now) < this.#config.partTtlMs) continue;
      parts++;
      if (!dryRun) await Deno.remove(path).catch(() => {});
    }
    return { removed, freedBytes, parts };
  }

  #again(sha256: string, meta: ReturnType<typeof cleanMeta>, expiresAt: number | null): PutResult {
    const row = this.#index.get(sha256)!;
    // Never-expiring wins; otherwise the later of the two expiries.
    const expiry = row.expiresAt === null || expiresAt === null
      ? null
      : Math.max(row.expiresAt, expiresAt);
    this.#index.refresh(sha256, meta, expiry);
    return { sha256, size: row.size, created: false, createdAt: row.createdAt };
  }

  #forgetRow(sha256: string) {
    const row = this.#index.get(sha256);
    if (!row) return;
    this.#index.remove(sha256);
    this.#used -= row.size;
  }

  /** A row whose file is in place (it may have expired: a new upload renews it). */
  #present(sha256: string): boolean {
    return this.#index.get(sha256) !== undefined;
  }

  #visibleRow(sha256: string): BlobRow | undefined {
    if (!SHA256_PATTERN.test(sha256)) return undefined;
    const row = this.#index.get(sha256);
    if (!row) return undefined;
    if (row.expiresAt !== null && row.expiresAt <= Date.now()) {
      return this.#index.pins(sha256).length ? row : undefined;
    }
    return row;
  }

  #checkBlobSize(size: number) {
    const limit = this.#config.maxBlobBytes;
    if (size <= limit) return;
    throw new RoamError(
      "too_large",
      `a blob may be at most ${limit} bytes on this host; this one is ${size} bytes or more; split it, or raise the host's artifacts.maxBlobBytes`,
      { size, limit },
    );
  }

  /** Make room for `size` more bytes, collecting garbage once when that helps. */
  async #ensureRoom(size: number) {
    if (this.#used + this.#inflight + size <= this.#config.quotaBytes) return;
    await this.gc();
    if (this.#used + this.#inflight + size > this.#config.quotaBytes) throw this.#quotaError(size);
  }

  #quotaError(size: number): RoamError {
    const used = this.#used + this.#inflight;
    const quota = this.#config.quotaBytes;
    return new RoamError(
      "quota_exceeded",
      `the artifact store is full: ${used} of ${quota} bytes used${
        size ? ` and this blob needs ${size} more` : ""
      }; remove blobs with 'roam artifact rm', unpin ones no longer needed, or raise the host's artifacts.quotaBytes`,
      { used, quota, size },
    );
  }

  #wake(sha256: string) {
    for (const wake of this.#waiters.get(sha256) ?? []) wake();
  }

  async #syncDir() {
    try {
      const dir = await Deno.open(this.#dir, { read: true });
      try {
        await dir.sync();
      } finally {
        dir.close();
      }
    } catch { /* not every platform syncs a directory */ }
  }

  #path(sha256: string): string {
    return join(this.#dir, sha256);
  }
}

function cleanMeta(
  meta: BlobMeta,
): { owner: string | null; name: string | null; mediaType: string | null } {
  return { owner: meta.owner ?? null, name: meta.name ?? null, mediaType: meta.mediaType ?? null };
}

function checkHolder(holder: string) {
  if (!HOLDER_PATTERN.test(holder)) {
    throw new RoamError(
      "invalid_input",
      `"${holder}" is not a pin holder; use agent:<id>, entry:<id>, job:<id>, user or user:<name>`,
      { holder },
    );
  }
}

function stall(idleMs: number, size: number): RoamError {
  return new RoamError(
    "timeout",
    `no byte arrived for ${idleMs} ms after ${size} bytes; the upload was abandoned and nothing was stored`,
    { idleMs, size },
  );
}

function cancelled(size: number): RoamError {
  return new RoamError("cancelled", `the upload was cancelled after ${size} bytes`, { size });
}
