import { readRecordHeader } from "../record.ts";
import type { Pool } from "./pool.ts";

/** Where a pool copy stands. */
export interface CopyProgress {
  /** Records copied so far. */
  copied: number;
  /** Records the target had already. */
  skipped: number;
  /** Bytes copied so far. */
  bytes: number;
  /** Keys looked at so far. */
  seen: number;
  /** Where to resume (`after`) when the copy stopped at `maxKeys`; absent when it finished. */
  next?: string;
}

/** Options for {@linkcode copyPool}. */
export interface CopyOptions {
  /** Called after each record. */
  onProgress?: (progress: CopyProgress) => void;
  /** Copies in flight at once. Default 8. */
  concurrency?: number;
  /** Copy a record even when the target has its key. Default false. */
  overwrite?: boolean;
  /** Stops the copy between records. */
  signal?: AbortSignal;
  /** Start after this key (a previous run's `next`). */
  after?: string;
  /** Stop after this many keys and return `next`. Default: all of them. */
  maxKeys?: number;
}

/**
 * Copy every record of `from` into `to`, a page of keys at a time, with at
 * most `concurrency` copies in flight. Records are copied as they are
 * (self-describing, still encrypted if they were); each is checked to be a
 * roam record first. Keys the target has are skipped unless `overwrite`.
 */
export async function copyPool(
  from: Pool,
  to: Pool,
  options: CopyOptions = {},
): Promise<CopyProgress> {
  const progress: CopyProgress = { copied: 0, skipped: 0, bytes: 0, seen: 0 };
  const concurrency = Math.max(1, Math.min(64, options.concurrency ?? 8));
  let after = options.after;
  const maxKeys = options.maxKeys ?? Infinity;
  do {
    options.signal?.throwIfAborted();
    if (progress.seen >= maxKeys) return { ...progress, next: after };
    const page = await from.list({ after, limit: Math.min(500, maxKeys - progress.seen) });
    let next = 0;
    const worker = async () => {
      while (next < page.keys.length) {
        options.signal?.throwIfAborted();
        const key = page.keys[next++];
        progress.seen++;
        if (!options.overwrite && await to.has(key)) {
          progress.skipped++;
        } else {
          const record = await from.get(key);
          if (record) {
            readRecordHeader(record);
            await to.put(key, record);
            progress.copied++;
            progress.bytes += record.length;
          } else {
            progress.skipped++; // forgotten while we copied
          }
        }
        options.onProgress?.({ ...progress });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    after = page.next;
  } while (after !== undefined);
  return progress;
}
