/**
 * Content-addressed bytes: what the local pool stores its records in. The
 * host's ArtifactStore has exactly these methods.
 */
export interface BlobStore {
  /** Store bytes; returns their sha256 (hex) and size. Storing the same bytes twice keeps one copy. */
  putBytes(
    bytes: Uint8Array,
    meta?: {
      name?: string;
      mediaType?: string;
      owner?: string;
      /** When the blob may be collected if nobody pins it (ms since the epoch); absent: never. */
      expiresAt?: number | null;
    },
  ): Promise<{ sha256: string; size: number }>;
  /** The bytes of a blob, or null when absent. */
  getBytes(sha256: string): Promise<Uint8Array | null>;
  /** Whether a blob is there. */
  has(sha256: string): Promise<boolean>;
  /** Keep a blob from garbage collection on behalf of `holder`. */
  pin(sha256: string, holder: string): Promise<void>;
  /** Release `holder`'s pin. */
  unpin(sha256: string, holder: string): Promise<void>;
}
