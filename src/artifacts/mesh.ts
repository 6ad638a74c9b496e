import { isRoamError, RoamError } from "../errors/mod.ts";
import { normalizeHostUrl, RpcHttpClient } from "../rpc/mod.ts";
import { SHA256_HEADER, WAIT_HEADER } from "./http.ts";
import type { ArtifactStore } from "./store.ts";

/** A host of the mesh as the artifact layer needs it. */
export interface ArtifactPeer {
  id: string;
  name: string;
  url: string;
  state: string;
  self: boolean;
}

/** Options for {@linkcode ArtifactMesh}. */
export interface ArtifactMeshOptions {
  store: ArtifactStore;
  /** This host; `url` is where others reach it now. */
  self: { id: string; name: string; url: () => string };
  /** The hosts of the mesh now (alive or not). */
  peers: () => ArtifactPeer[];
  /** A host name, id or URL to a base URL. */
  resolve: (to: string) => string | Promise<string>;
  /** A token the other hosts of the mesh accept. */
  token: () => string;
  /** Told about fetches and replications. */
  onEvent?: (type: string, data: Record<string, unknown>, subject: string) => void;
  /** Longest wait for one host's answer to `locate`. Default 3 s. */
  locateTimeoutMs?: number;
}

/** A host that holds a blob. */
export interface Holder {
  id: string | null;
  name: string | null;
  url: string;
  self: boolean;
  size: number;
}

/** One try to download a blob (or the rest of it) from a holder. */
export interface Attempt {
  url: string;
  ok: boolean;
  code?: string;
  message?: string;
}

/** What {@linkcode ArtifactMesh.fetch} did. */
export interface FetchResult {
  sha256: string;
  size: number;
  /** The holder it came from; null when this host had it already. */
  from: string | null;
  /** True when this host had it already. */
  already: boolean;
  attempts: Attempt[];
}

/** What {@linkcode ArtifactMesh.replicate} did on each target. */
export interface ReplicateResult {
  sha256: string;
  size: number;
  hosts: {
    url: string;
    ok: boolean;
    from?: string | null;
    already?: boolean;
    error?: { code: string; message: string };
    ms: number;
  }[];
}

/** How long a host in a replication pipeline waits for its parent to start receiving. */
const PIPELINE_WAIT_MS = 30_000;
/** Longest wait for a holder's response headers (the body has its own idle limit). */
const HEADERS_TIMEOUT_MS = 30_000;
const TRANSFER_CALL_MS = 6 * 3600_000;

/**
 * Blobs across the mesh: which hosts hold one (`locate`), pulling one from a
 * holder with its hash checked and another holder tried when a download
 * breaks or arrives damaged (`fetch`), and spreading one to many hosts peer
 * to peer (`replicate`): the targets form a pipeline (a chain, or a tree
 * with `fanout` > 1) in which each host downloads from its parent while the
 * parent is still receiving, so the source sends about one copy.
 */
export class ArtifactMesh {
  readonly #o: ArtifactMeshOptions;
  readonly #fetching = new Map<string, Promise<FetchResult>>();

  /** Use `options.store` and the mesh's hosts. */
  constructor(options: ArtifactMeshOptions) {
    this.#o = options;
  }

  /** Which alive hosts of the mesh (this one included) hold the blob. */
  async locate(
    sha256: string,
  ): Promise<{ holders: Holder[]; asked: number; unreachable: string[] }> {
    const holders: Holder[] = [];
    const here = this.#o.store.stat(sha256);
    if (here) {
      holders.push({
        id: this.#o.self.id,
        name: this.#o.self.name,
        url: this.#here(),
        self: true,
        size: here.size,
      });
    }
    const peers = this.#o.peers().filter((p) => !p.self && p.state === "alive");
    const unreachable: string[] = [];
    await Promise.all(peers.map(async (peer) => {
      try {
        const stat = await this.#client(peer.url, this.#o.locateTimeoutMs ?? 3_000).call(
          "artifact.stat",
          { sha256 },
        ) as { size: number };
        holders.push({ id: peer.id, name: peer.name, url: peer.url, self: false, size: stat.size });
      } catch (error) {
        if (!isRoamError(error, "not_found")) unreachable.push(peer.name);
      }
    }));
    return { holders, asked: peers.length, unreachable };
  }

  /**
   * Pull a blob to this host from the hosts `from` names (in order), or else
   * from the holders `locate` finds. The bytes are hashed as they arrive
   * and kept only when they match; a holder that fails or sends damaged
   * bytes is passed over for the next one.
   */
  fetch(sha256: string, options: { from?: string[]; waitMs?: number } = {}): Promise<FetchResult> {
    const running = this.#fetching.get(sha256);
    if (running) return running;
    const work = this.#fetchNow(sha256, options).finally(() => this.#fetching.delete(sha256));
    this.#fetching.set(sha256, work);
    return work;
  }

  async #fetchNow(
    sha256: string,
    options: { from?: string[]; waitMs?: number },
  ): Promise<FetchResult> {
    const have = this.#o.store.stat(sha256);
    if (have) return { sha256, size: have.size, from: null, already: true, attempts: [] };
    const attempts: (Attempt & { corrupted?: boolean })[] = [];
    let sources: string[] = [];
    if (options.from?.length) {
      for (const ref of options.from) {
        try {
          sources.push(normalizeHostUrl(await this.#o.resolve(ref)));
        } catch (error) {
          attempts.push({ url: ref, ok: false, ...codeOf(error) });
        }
      }
    } else {
      sources = (await this.locate(sha256)).holders.filter((h) => !h.self).map((h) => h.url);
    }
    sources = [...new Set(sources)].filter((url) => url !== this.#here());
    if (sources.length === 0 && attempts.length === 0) {
      throw new RoamError(
        "not_found",
        `no other alive host of the mesh holds blob ${sha256}; put it somewhere first ('roam artifact put')`,
        { sha256 },
      );
    }
    let next = 0;
    while (next < sources.length) {
      const outcome = await this.#download(sources.slice(next), sha256, options.waitMs ?? 0);
      for (const attempt of outcome.attempts) {
        attempts.push(attempt);
        if (attempt.ok) continue;
        this.#o.onEvent?.("artifact.fetch_failed", {
          from: attempt.url,
          code: attempt.code,
          message: attempt.message,
          corrupted: attempt.corrupted === true,
        }, sha256);
      }
      if (outcome.stored) {
        const from = outcome.from!;
        this.#o.onEvent?.("artifact.fetched", { from, size: outcome.stored.size }, sha256);
        return {
          sha256,
          size: outcome.stored.size,
          from,
          already: !outcome.stored.created,
          attempts: attempts.map(({ corrupted: _, ...a }) => a),
        };
      }
      // Damaged bytes: start again from the holder after the one that finished the body.
      next += outcome.used;
    }
    throw new RoamError(
      "unavailable",
      `could not fetch blob ${sha256}: ${attempts.map((a) => `${a.url}: ${a.message}`).join("; ")}`,
      { sha256, attempts: attempts.map(({ corrupted: _, ...a }) => a) },
    );
  }

  /**
   * Spread a blob from this host to `to` (host names, ids or URLs, or
   * `"all"`: every other alive host). Each target is told to fetch it from
   * its parent in the pipeline (this host for the first `fanout` targets),
   * falling back to this host; hosts that hold it already answer at once
   * and serve their children.
   */
  async replicate(
    sha256: string,
    to: string[] | "all",
    options: { fanout?: number } = {},
  ): Promise<ReplicateResult> {
    const size = this.#o.store.stat(sha256)?.size ?? (await this.fetch(sha256)).size;
    const here = this.#here();
    const targets = to === "all"
      ? this.#o.peers().filter((p) => !p.self && p.state === "alive").map((p) => p.url)
      : await Promise.all(to.map(async (ref) => normalizeHostUrl(await this.#o.resolve(ref))));
    const unique = [...new Set(targets.map((url) => normalizeHostUrl(url)))].filter((u) =>
      u !== here
    );
    const fanout = Math.max(1, Math.min(options.fanout ?? 1, 16));
    const nodes = [here, ...unique];
    const hosts = await Promise.all(unique.map(async (url, i) => {
      const parent = nodes[Math.floor(i / fanout)];
      const from = parent === here ? [here] : [parent, here];
      const started = performance.now();
      try {
        const result = await this.#client(url, TRANSFER_CALL_MS).call("artifact.fetch", {
          sha256,
          from,
          waitMs: PIPELINE_WAIT_MS,
        }) as FetchResult;
        return {
          url,
          ok: true,
          from: result.from,
          already: result.already,
          ms: Math.round(performance.now() - started),
        };
      } catch (error) {
        return {
          url,
          ok: false,
          error: codeOf(error) as { code: string; message: string },
          ms: Math.round(performance.now() - started),
        };
      }
    }));
    this.#o.onEvent?.("artifact.replicated", {
      to: unique,
      ok: hosts.filter((h) => h.ok).length,
      failed: hosts.filter((h) => !h.ok).length,
    }, sha256);
    return { sha256, size, hosts };
  }

  /**
   * Stream one blob into the store from the first of `sources` that sends
   * it; when a download breaks off part way, it goes on from the next
   * source where it stopped (a Range request), so the store sees one body
   * and checks its sha256 over the whole. Returns what was stored (or
   * nothing, when no source could send it or the bytes were damaged), every
   * attempt, and how many sources it used.
   */
  async #download(sources: string[], sha256: string, waitMs: number): Promise<{
    stored?: { size: number; created: boolean };
    from?: string;
    attempts: (Attempt & { corrupted?: boolean })[];
    used: number;
  }> {
    const attempts: (Attempt & { corrupted?: boolean })[] = [];
    let index = 0;
    let offset = 0;
    let total: number | undefined;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    const open = async () => {
      while (index < sources.length) {
        const url = sources[index];
        try {
          const response = await this.#get(url, sha256, waitMs, offset);
          total ??= response.total;
          if (response.total !== undefined && response.total !== total) {
            await response.body.cancel();
            throw new RoamError(
              "invalid_input",
              `${url} has ${response.total} bytes, not ${total}`,
              {
                url,
                corrupted: true,
              },
            );
          }
          reader = response.body.getReader();
          return;
        } catch (error) {
          attempts.push({ url, ok: false, ...codeOf(error) });
          index++;
        }
      }
      throw new RoamError("unavailable", `no holder is left to send blob ${sha256}`, { sha256 });
    };
    try {
      await open();
    } catch {
      return { attempts, used: sources.length };
    }
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (true) {
          try {
            const { done, value } = await reader!.read();
            if (done) {
              if (total !== undefined && offset < total) {
                throw new Error(`the body ended after ${offset} of ${total} bytes`);
              }
              controller.close();
              return;
            }
            offset += value.byteLength;
            controller.enqueue(value);
            return;
          } catch (error) {
            reader?.cancel().catch(() => {});
            attempts.push({
              url: sources[index],
              ok: false,
              code: "unavailable",
              message: `the download broke off after ${offset} bytes (${
                (error as Error)?.message ?? error
              }); going on from the next holder`,
            });
            index++;
            await open();
          }
        }
      },
      cancel: () => {
        reader?.cancel().catch(() => {});
      },
    });
    try {
      const stored = await this.#o.store.put(body, {
        sha256,
        size: total,
        owner: `host:${sources[index]}`,
      });
      attempts.push({ url: sources[index], ok: true });
      return { stored, from: sources[index], attempts, used: index + 1 };
    } catch (error) {
      // This host cannot take it (full, too big, busy): no other holder changes that.
      if (
        isRoamError(error) && ["quota_exceeded", "too_large", "queue_full"].includes(error.code)
      ) {
        throw error;
      }
      const last = sources[Math.min(index, sources.length - 1)];
      if (isRoamError(error) && error.data.corrupted === true) {
        attempts.push({ url: last, ok: false, ...codeOf(error), corrupted: true });
      } else if (index < sources.length) {
        attempts.push({ url: last, ok: false, ...codeOf(error) });
      }
      return { attempts, used: Math.min(index + 1, sources.length) };
    }
  }

  /** Ask `url` for the blob from byte `offset`; the body, and the blob's whole size when known. */
  async #get(
    url: string,
    sha256: string,
    waitMs: number,
    offset: number,
  ): Promise<{ body: ReadableStream<Uint8Array>; total: number | undefined }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#o.token()}` };
    if (waitMs > 0) headers[WAIT_HEADER] = String(waitMs);
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`no answer within ${HEADERS_TIMEOUT_MS + waitMs} ms`)),
      HEADERS_TIMEOUT_MS + waitMs,
    );
    let response: Response;
    try {
      response = await fetch(`${url}/artifacts/${sha256}`, { headers, signal: controller.signal });
    } catch (error) {
      throw new RoamError("unavailable", `cannot reach ${url}: ${(error as Error).message}`, {
        url,
      });
    } finally {
      clearTimeout(timer);
    }
    const wanted = offset > 0 ? 206 : 200;
    if (response.status !== wanted) {
      const body = await response.json().catch(() => undefined) as
        | { error?: { code?: string; message?: string } }
        | undefined;
      const code = body?.error?.code === "not_found" ? "not_found" : "unavailable";
      throw new RoamError(
        code,
        `${url} answered ${response.status}: ${body?.error?.message ?? response.statusText}`,
        { url, status: response.status },
      );
    }
    const sent = response.headers.get(SHA256_HEADER);
    if (sent !== null && sent !== sha256) {
      await response.body?.cancel();
      throw new RoamError("invalid_input", `${url} sent blob ${sent} for ${sha256}`, {
        url,
        corrupted: true,
      });
    }
    const body = response.body ?? new ReadableStream({ start: (c) => c.close() });
    if (offset > 0) {
      const range = response.headers.get("content-range")?.match(/^bytes (\d+)-\d+\/(\d+)$/);
      if (!range || Number(range[1]) !== offset) {
        await body.cancel();
        throw new RoamError("unavailable", `${url} did not send the blob from byte ${offset}`, {
          url,
        });
      }
      return { body, total: Number(range[2]) };
    }
    const length = response.headers.get("content-length");
    return { body, total: length === null ? undefined : Number(length) };
  }

  #client(url: string, timeoutMs: number): RpcHttpClient {
    return new RpcHttpClient({ url, token: this.#o.token(), timeoutMs });
  }

  #here(): string {
    return normalizeHostUrl(this.#o.self.url());
  }
}

function codeOf(error: unknown): { code: string; message: string } {
  return {
    code: isRoamError(error) ? error.code : "internal",
    message: (error as Error)?.message ?? String(error),
  };
}
