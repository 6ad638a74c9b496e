/**
 * Jobs on other hosts of the mesh: choosing a host that has the capability
 * and room for it (each peer is asked `job.capacity`), submitting there
 * (`job.submit` with `local: true`, so it is never forwarded again), and
 * following it (`job.get`, `job.wait`, `job.cancel`), over HTTP RPC with a
 * token this host mints from the mesh secret.
 *
 * @module
 */
import { RoamError } from "../errors/mod.ts";
import type { MeshHost } from "../mesh/mod.ts";
import { RpcHttpClient } from "../rpc/mod.ts";
import type { JobView } from "./queue.ts";

/** A host a job can go to. */
export interface JobTarget {
  /** Its URL. */
  url: string;
  /** Its name, for people. */
  name: string;
}

/** Options for {@linkcode RemoteJobs}. */
export interface RemoteJobsOptions {
  /** This host's id (never a target of its own forwarding). */
  selfId: string;
  /** The mesh's hosts now. */
  hosts: () => MeshHost[];
  /** A host name, id or URL as a URL; throws `not_found` or `unavailable`. */
  resolve: (to: string) => string;
  /** A token other hosts of the mesh accept from this one. */
  token: () => string;
  /** Time limit of a probe of one peer, ms. Default 3 000. */
  probeTimeoutMs?: number;
}

/** What a peer says about running a job now. */
interface Capacity {
  installed: boolean;
  fits: boolean;
  never?: boolean;
  reason: string | null;
  queued: number;
}

/** Forwarding jobs to other hosts; see the module docs. */
export class RemoteJobs {
  readonly #o: RemoteJobsOptions;

  /** Use the mesh as `options` describe it. */
  constructor(options: RemoteJobsOptions) {
    this.#o = options;
  }

  /** The target `to` names, or undefined when it names this host. */
  target(to: string): JobTarget | undefined {
    const self = this.#o.hosts().find((h) => h.self);
    if (self && (to === self.id || to === self.name || self.urls.includes(to))) return undefined;
    const url = this.#o.resolve(to);
    const known = this.#o.hosts().find((h) => h.url === url || h.urls.includes(url));
    if (known?.id === this.#o.selfId) return undefined;
    return { url, name: known?.name ?? url };
  }

  /** Whether the mesh has another alive host. */
  hasPeers(): boolean {
    return this.#o.hosts().some((h) => !h.self && h.state === "alive");
  }

  /**
   * The best alive peer for a job: one that has the capability and could
   * start it now (fewest queued jobs, then most free VRAM), else one that has
   * it and could run it later. Undefined, with each peer's answer, when none
   * can.
   */
  async choose(
    capability: string,
    config: unknown,
  ): Promise<{ target?: JobTarget; fits: boolean; answers: string[] }> {
    const peers = this.#o.hosts().filter((h) => !h.self && h.state === "alive");
    const answers: string[] = [];
    const found = await Promise.all(peers.map(async (peer) => {
      try {
        const capacity = await this.#client(peer.url, this.#o.probeTimeoutMs ?? 3_000)
          .call("job.capacity", { capability, config }) as Capacity;
        answers.push(`${peer.name}: ${capacity.fits ? "fits" : capacity.reason}`);
        return { peer, capacity };
      } catch (error) {
        answers.push(`${peer.name}: ${(error as Error).message}`);
        return undefined;
      }
    }));
    const free = (h: MeshHost) => Math.max(0, ...h.gpus.map((g) => g.memoryFreeMb));
    // A peer that has it but could never run it (no GPU, too small) is no candidate.
    const ranked = found.filter((f) => f?.capacity.installed && !f.capacity.never).map((f) => f!)
      .sort((a, b) =>
        Number(b.capacity.fits) - Number(a.capacity.fits) ||
        a.capacity.queued - b.capacity.queued || free(b.peer) - free(a.peer)
      );
    const best = ranked[0];
    return {
      target: best ? { url: best.peer.url, name: best.peer.name } : undefined,
      fits: best?.capacity.fits ?? false,
      answers: answers.sort(),
    };
  }

  /** Submit a job on `target`; returns it as that host describes it. */
  async submit(target: JobTarget, params: Record<string, unknown>): Promise<JobView> {
    try {
      return await this.#client(target.url).call("job.submit", {
        ...params,
        local: true,
      }) as JobView;
    } catch (error) {
      throw withHost(error, target.name);
    }
  }

  /** A job on `url` now. */
  async get(url: string, id: string): Promise<JobView> {
    return await this.#client(url).call("job.get", { id }) as JobView;
  }

  /** Wait for a job on `url` (at most `timeoutMs`). */
  async wait(url: string, id: string, timeoutMs: number, signal?: AbortSignal): Promise<JobView> {
    return await this.#client(url, timeoutMs + 30_000).call("job.wait", { id, timeoutMs }, {
      signal,
    }) as JobView;
  }

  /** Cancel a job on `url`. */
  async cancel(url: string, id: string): Promise<JobView> {
    return await this.#client(url).call("job.cancel", { id }) as JobView;
  }

  #client(url: string, timeoutMs = 60_000) {
    return new RpcHttpClient({ url, token: this.#o.token(), timeoutMs });
  }
}

function withHost(error: unknown, host: string): unknown {
  if (error instanceof RoamError) {
    return new RoamError(error.code, `host ${host}: ${error.message}`, {
      ...error.data,
      host,
    });
  }
  return error;
}
