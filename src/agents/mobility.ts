import { createHash } from "node:crypto";
import type { DatabaseSync } from "node:sqlite";
import type { z } from "zod";
import { agentCreate, agentSend, PlacementSchema, pluginBundle } from "../api/mod.ts";
import { isRoamError, RoamError } from "../errors/mod.ts";
import type { PluginStore } from "../plugins/mod.ts";
import { normalizeHostUrl, RpcHttpClient } from "../rpc/mod.ts";
import type { TokenSigner } from "../security/mod.ts";
import type { EventLog } from "../store/mod.ts";
import {
  type Envelope,
  ENVELOPE_VERSION,
  EnvelopeSchema,
  MAX_ENVELOPE_MESSAGES,
} from "./envelope.ts";
import { toWire } from "./instance.ts";
import {
  type AgentManager,
  type AgentTravel,
  type FrozenAgent,
  MAX_FORWARD_HOPS,
  type SendOutcome,
  type SendRequest,
} from "./manager.ts";
import { type Departure, Transfers } from "./transfers.ts";

/**
 * Turns what a caller wrote for a target (a host URL, or a host name or id
 * that the host looks up in its mesh) into the target's base URL.
 */
export type ResolveHost = (to: string) => string | Promise<string>;

/** What a host must offer to be chosen for an agent: tags, free RAM, a GPU with free VRAM. */
export type Placement = z.infer<typeof PlacementSchema>;

/** A host chosen for an agent. */
export interface PlacedHost {
  id: string;
  name: string;
  url: string;
}

/**
 * Chooses the best alive host that offers what `placement` asks for;
 * `excludeSelf` when the agent is leaving this host. Throws `not_found`
 * saying why each host was passed over.
 */
export type PlaceHost = (
  placement: Placement,
  options: { excludeSelf: boolean },
) => PlacedHost | Promise<PlacedHost>;

/**
 * Points where a test may stop a hand-off as if the host had died there.
 * Returning `"crash"` leaves every durable record as it is at that point and
 * ends the hand-off without another step, in memory or on disk.
 */
export interface MobilityFaults {
  /** On the target: the envelope is stored and not yet acknowledged. */
  afterStore?: (transferId: string) => void | "crash" | Promise<void | "crash">;
  /** On the source: the target acknowledged and the local copy is not yet dropped. */
  afterAck?: (transferId: string) => void | "crash" | Promise<void | "crash">;
}

/** artifacts: one of an agent's files as it travels. */
export interface TravellingFile {
  name: string;
  sha256: string;
  size: number;
}

/**
 * artifacts: where an agent's registered files live (the host's
 * ArtifactStore): listed at the source, fetched by the target before it
 * acknowledges, pinned for the agent there, released at the source once the
 * agent has left.
 */
export interface AgentFilesPort {
  /** The files agent `id` holds on this host. */
  list(id: string): TravellingFile[] | Promise<TravellingFile[]>;
  /** Make sure each file's blob is here, fetching it from `source` (checked by sha256). */
  receive(files: readonly TravellingFile[], source: string): Promise<void>;
  /** Keep the files for agent `id` on this host. */
  hold(files: readonly TravellingFile[], id: string): Promise<void>;
  /** Agent `id` left this host: let its files go. */
  release(id: string): void;
}

/** Options for {@linkcode AgentMobility}. */
export interface AgentMobilityOptions {
  /** The host's database, with the `005_mobility` migration applied. */
  db: DatabaseSync;
  events: EventLog;
  agents: AgentManager;
  /** Where code fetched from other hosts is installed (and served from, by sha256). */
  plugins: PluginStore;
  /** Mints the tokens this host shows other hosts of its mesh. */
  tokens: TokenSigner;
  /** This host; `url` is where other hosts reach it now. */
  self: { id: string; name: string; url: () => string };
  /** Target names to URLs. Default: the target must be a URL. */
  resolve?: ResolveHost;
  /** Chooses a host by what it offers. Default: none, and a placement is refused. */
  place?: PlaceHost;
  log: (line: string) => void;
  /** Longest wait for a target to say who it is before anything moves. Default 5 s. */
  preflightTimeoutMs?: number;
  /** Longest wait for a target to store an envelope (with fetching its code). Default 60 s. */
  transferTimeoutMs?: number;
  /** How long a stored arrival waits for its source's commit before it starts anyway. Default 5 s. */
  commitGraceMs?: number;
  /** First wait before asking a silent target again how a move ended; it doubles up to 30 s. Default 500 ms. */
  settleRetryMs?: number;
  /** How long a tombstone points at a moved agent. Default 24 h. */
  tombstoneTtlMs?: number;
  /** Test-only fault points. */
  faults?: MobilityFaults;
  /** artifacts: the agents' registered files; without it no files travel. */
  files?: AgentFilesPort;
}

/** Where a move left an agent. */
export interface Moved {
  id: string;
  location: string;
  transferId: string;
}

/** A hand-off stopped where a host would have died (a fault point, or the host stopping). */
class Halted extends Error {}

const SETTLE_RETRY_MAX_MS = 30_000;
const TOKEN_TTL_MS = 10 * 60_000;

/**
 * Moves agents between the hosts of one mesh, exactly once: dispatch, clone
 * to another host, and retract, with the agent's code fetched by a target
 * that lacks it (and checked against its sha256).
 *
 * A move is a two-phase hand-off. The source runs `onDispatching`, freezes
 * the mailbox, snapshots the agent and records the departure durably; the
 * target checks and installs the code, stores the envelope durably and
 * acknowledges (a repeated delivery gets the same answer); only then does the
 * source drop its copy, leaving a tombstone that answers `moved` (or
 * forwards); then the target starts the agent (`onArrival`, `run()`, its
 * travelling messages). A target that refuses leaves the agent running on
 * the source. A source that cannot tell whether the target stored the
 * envelope (it timed out, or died) asks the target to settle the transfer:
 * one the target holds is committed, one it does not hold is fenced off for
 * good and the agent comes back to life on the source. Until the target
 * answers, the agent is held frozen (and not revived after a restart), so
 * there are never two live copies and never none.
 */
export class AgentMobility implements AgentTravel {
  readonly #o: AgentMobilityOptions & {
    preflightTimeoutMs: number;
    transferTimeoutMs: number;
    commitGraceMs: number;
    settleRetryMs: number;
  };
  readonly #transfers: Transfers;
  /** Departures whose agent is frozen in memory, by transfer id. */
  readonly #frozen = new Map<string, { frozen: FrozenAgent; byAgent: boolean }>();
  readonly #receiving = new Map<
    string,
    Promise<{ accepted: true; transferId: string; duplicate: boolean }>
  >();
  readonly #starting = new Map<string, Promise<{ id: string; started: boolean }>>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #token: { value: string; expiresAt: number } | undefined;
  #stopped = false;

  /** Make the mobility layer; call {@linkcode AgentMobility.start} after the agent manager started. */
  constructor(options: AgentMobilityOptions) {
    this.#o = {
      preflightTimeoutMs: 5_000,
      transferTimeoutMs: 60_000,
      commitGraceMs: 5_000,
      settleRetryMs: 500,
      ...options,
    };
    this.#transfers = new Transfers(options.db, {
      tombstoneTtlMs: options.tombstoneTtlMs ?? 24 * 3600_000,
      maxTombstones: 100_000,
      arrivalTtlMs: 7 * 24 * 3600_000,
      maxArrivals: 100_000,
    });
  }

  /**
   * Settle what a previous run left: drop the copies of agents whose move
   * committed, ask targets about moves that were in flight (in the
   * background, until they answer), and start arrivals that were stored.
   */
  start(): void {
    for (const departure of this.#transfers.departures()) {
      if (departure.phase === "committed") {
        this.#commit(departure).catch((error) =>
          this.#o.log(`roam: could not finish moving agent ${departure.agentId}: ${error.message}`)
        );
      } else {
        this.#o.events.append("agent.transfer_in_doubt", {
          to: departure.target,
          transferId: departure.transferId,
          reason: "the host stopped during the move",
        }, departure.agentId);
        this.#settleLater(departure, 0);
      }
    }
    for (const arrival of this.#transfers.storedArrivals()) {
      this.#startLater(arrival.transferId, this.#o.commitGraceMs);
    }
    this.#transfers.sweep();
    this.#sweeper = setInterval(() => this.#transfers.sweep(), 60_000);
  }

  /** Stop: no new hand-offs, no retries; what is in flight is settled at the next start. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#sweeper);
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  // Source side ------------------------------------------------------------

  /**
   * Move a running agent to the host at `to`. Resolves once the target has
   * it (and has started it, unless that host is slow to); throws, with the
   * agent still running here, when the target is down or refuses it.
   */
  async dispatch(
    id: string,
    to: string | Placement,
    options: { retract?: boolean; byAgent?: boolean } = {},
  ): Promise<Moved> {
    const byAgent = options.byAgent ?? false;
    let url = typeof to === "string" ? to : "a host chosen by placement";
    try {
      this.#alive();
      url = typeof to === "string"
        ? await this.#resolve(to)
        : normalizeHostUrl((await this.#place(to, true)).url);
      if (!this.#o.agents.has(id)) {
        const location = this.#transfers.location(id);
        if (location) throw moved(id, location.url, location.epoch);
      }
      const target = await this.#preflight(url);
      if (target.id === this.#o.self.id) {
        throw new RoamError("invalid_input", `agent ${id} is on ${url} already`, { id, to: url });
      }
    } catch (error) {
      await this.#failed(id, url, "preflight", error, byAgent);
      throw error;
    }
    const kind = options.retract ? "retract" : "dispatch";
    const transferId = crypto.randomUUID();
    this.#o.events.append("agent.dispatching", { to: url, transferId, kind }, id);
    let frozen: FrozenAgent;
    try {
      frozen = await this.#o.agents.freeze(
        id,
        options.retract ? "onReverting" : "onDispatching",
        url,
      );
    } catch (error) {
      await this.#failed(id, url, "freeze", error, byAgent, transferId);
      throw error;
    }
    if (this.#stopped) {
      // Nothing has left yet: the record keeps the frozen state for the next start.
      throw halted(id, url, transferId);
    }
    const travel = this.#transfers.travel(id, this.#here());
    const envelope: Envelope = {
      v: ENVELOPE_VERSION,
      kind,
      transferId,
      epoch: Math.max(travel.epoch, this.#transfers.lastEpoch(id)) + 1,
      agent: { id },
      plugin: {
        name: frozen.plugin.name,
        version: frozen.plugin.version,
        sha256: frozen.plugin.sha256,
      },
      state: frozen.state,
      messages: frozen.messages,
      ...await this.#filesOf(id), // artifacts
      policy: frozen.policy,
      metadata: {
        hops: travel.hops + 1,
        origin: travel.origin,
        source: this.#source(),
        sentAt: new Date().toISOString(),
      },
    };
    if (envelope.messages.length > MAX_ENVELOPE_MESSAGES) {
      frozen.thaw();
      const error = new RoamError(
        "too_large",
        `agent ${id} has ${envelope.messages.length} messages waiting; at most ${MAX_ENVELOPE_MESSAGES} travel with an agent: let it work through them first`,
        { id, waiting: envelope.messages.length, limit: MAX_ENVELOPE_MESSAGES },
      );
      await this.#failed(id, url, "freeze", error, byAgent, transferId);
      throw error;
    }
    // Durable before anything leaves: a restart in the middle asks the target before reviving.
    this.#transfers.depart(envelope, url);
    const departure = this.#transfers.departure(transferId)!;
    this.#frozen.set(transferId, { frozen, byAgent });
    return await this.#handOff(departure);
  }

  /**
   * Create an agent on the best alive host that offers what `placement`
   * asks for, this one included: here when this host is best, otherwise on
   * that host over its RPC, installing the plugin there first when it lacks
   * it (the target operator's grants apply, as for an agent that moves).
   */
  async createPlaced(
    params: { plugin: string; version?: string; state?: unknown; init?: unknown },
    placement: Placement,
  ): Promise<{ id: string; host: PlacedHost }> {
    this.#alive();
    const chosen = await this.#place(placement, false);
    const host = { id: chosen.id, name: chosen.name, url: chosen.url };
    let id: string;
    if (host.id === this.#o.self.id) {
      id = await this.#o.agents.create(params);
    } else {
      const client = this.#client(host.url, agentCreate.timeoutMs ?? 180_000);
      const create = async () =>
        agentCreate.result.parse(await client.call("agent.create", params)).id;
      try {
        id = await create();
      } catch (error) {
        const local = this.#o.plugins.get(params.plugin, params.version);
        if (!isRoamError(error, "not_found") || !local) throw error;
        await client.call("plugin.add", {
          manifest: local.manifest,
          code: await this.#o.plugins.readCode(local),
        });
        id = await create();
      }
    }
    this.#o.events.append("agent.placed", {
      plugin: params.plugin,
      host: host.name,
      url: host.url,
      placement,
    }, id);
    return { id, host };
  }

  /**
   * Copy a running agent to the host at `to`: `onCloning` here, the copy (a
   * new id, the same state, no waiting messages) starts there with
   * `onClone`, then `onCloned` here. A `to` that names this host clones here.
   */
  async cloneTo(id: string, to: string): Promise<{ id: string; location?: string }> {
    this.#alive();
    const url = await this.#resolve(to);
    const target = await this.#preflight(url);
    if (target.id === this.#o.self.id) return { id: await this.#o.agents.clone(id) };
    return await this.#o.agents.cloneTo(id, async (snapshot) => {
      const cloneId = crypto.randomUUID();
      const envelope: Envelope = {
        v: ENVELOPE_VERSION,
        kind: "clone",
        transferId: crypto.randomUUID(),
        epoch: 1,
        agent: { id: cloneId, cloneOf: id },
        plugin: {
          name: snapshot.plugin.name,
          version: snapshot.plugin.version,
          sha256: snapshot.plugin.sha256,
        },
        state: snapshot.state,
        messages: [],
        ...await this.#filesOf(id), // artifacts
        policy: snapshot.policy,
        metadata: {
          hops: 0,
          origin: this.#here(),
          source: this.#source(),
          sentAt: new Date().toISOString(),
        },
      };
      try {
        await this.#deliver(url, envelope);
      } catch (error) {
        const outcome = inDoubt(error)
          ? await this.#settleOnce(url, envelope.transferId)
          : "aborted";
        if (outcome === "aborted") throw refused(id, url, error);
        if (outcome === "unknown") {
          throw new RoamError(
            "unavailable",
            `${url} did not say whether it took the clone of agent ${id} (${
              (error as Error).message
            }); if it did, the clone ${cloneId} starts there shortly`,
            { id, to: url, cloneId },
          );
        }
      }
      await this.#askToStart(url, envelope.transferId, cloneId);
      return { id: cloneId, location: url };
    });
  }

  /**
   * Pull an agent back to this host from `from`, following it through the
   * hosts it moved on to: that host runs `onReverting` and dispatches it here.
   */
  async retract(id: string, from: string): Promise<Moved> {
    this.#alive();
    if (this.#o.agents.has(id)) {
      throw new RoamError("invalid_input", `agent ${id} is on this host already`, { id });
    }
    let url = await this.#resolve(from);
    for (let hop = 0;; hop++) {
      try {
        const result = await this.#client(url, 180_000).call("agent.dispatch", {
          id,
          to: this.#here(),
          retract: true,
        });
        return result as Moved;
      } catch (error) {
        const next = isRoamError(error, "moved") ? error.data.location : undefined;
        if (typeof next === "string" && hop < MAX_FORWARD_HOPS) {
          url = next;
          continue;
        }
        throw error;
      }
    }
  }

  async #handOff(departure: Departure): Promise<Moved> {
    const { agentId: id, target: url, transferId } = departure;
    let outcome: "accepted" | "aborted" | "unknown";
    let why: unknown;
    try {
      await this.#deliver(url, departure.envelope);
      outcome = "accepted";
    } catch (error) {
      why = error;
      outcome = inDoubt(error) ? await this.#settleOnce(url, transferId) : "aborted";
    }
    try {
      if (outcome === "accepted") {
        if (await this.#fault("afterAck", transferId) === "crash") throw new Halted();
        this.#alive();
        await this.#commit(departure);
        return { id, location: url, transferId };
      }
      this.#alive();
    } catch (error) {
      if (error instanceof Halted || this.#stopped) throw halted(id, url, transferId);
      throw error;
    }
    if (outcome === "aborted") {
      const error = refused(id, url, why);
      await this.#abort(departure, "receive", error);
      throw error;
    }
    this.#o.events.append("agent.transfer_in_doubt", {
      to: url,
      transferId,
      reason: (why as Error).message,
    }, id);
    this.#settleLater(departure, this.#o.settleRetryMs);
    throw new RoamError(
      "unavailable",
      `the move of agent ${id} to ${url} is unsettled: ${url} did not answer (${
        (why as Error).message
      }); the agent is held here, frozen, and this host asks ${url} again until it answers; then it runs there or here, never both`,
      { id, to: url, transferId },
    );
  }

  /** The target has the agent: point its id there, drop the local copy, let the target start it. */
  async #commit(departure: Departure): Promise<void> {
    const { agentId: id, target: url, transferId } = departure;
    this.#transfers.commit({
      transferId,
      agentId: id,
      target: url,
      epoch: departure.envelope.epoch,
    });
    const held = this.#frozen.get(transferId);
    if (held) await held.frozen.drop(url);
    else await this.#o.agents.forget(id);
    this.#o.files?.release(id); // artifacts: its files travelled with it
    this.#frozen.delete(transferId);
    this.#transfers.forgetDeparture(transferId);
    this.#o.events.append("agent.dispatched", {
      to: url,
      transferId,
      kind: departure.kind,
      epoch: departure.envelope.epoch,
    }, id);
    await this.#askToStart(url, transferId, id);
  }

  /** The target does not have the agent: it runs here again. */
  async #abort(departure: Departure, stage: string, error: unknown): Promise<void> {
    const { agentId: id, target: url, transferId } = departure;
    this.#transfers.forgetDeparture(transferId);
    const held = this.#frozen.get(transferId);
    this.#frozen.delete(transferId);
    if (held) held.frozen.thaw();
    else {
      await this.#o.agents.activate(id).catch((failure) =>
        this.#o.log(`roam: agent ${id} stays here but did not start: ${failure.message}`)
      );
    }
    await this.#failed(id, url, stage, error, held?.byAgent ?? false, transferId);
  }

  async #failed(
    id: string,
    to: string,
    stage: string,
    error: unknown,
    byAgent: boolean,
    transferId?: string,
  ): Promise<void> {
    if (!this.#o.agents.has(id)) return;
    const wire = toWire(error);
    // The agent hears first, so that the event means it has been told.
    if (byAgent) await this.#o.agents.dispatchFailed(id, to, wire);
    this.#o.events.append("agent.dispatch_failed", {
      to,
      stage,
      code: wire.code,
      reason: wire.message,
      byAgent,
      ...(transferId ? { transferId } : {}),
    }, id);
  }

  /** Ask the target again, with growing pauses, until it says how the move ended. */
  #settleLater(departure: Departure, delayMs: number) {
    const key = `settle:${departure.transferId}`;
    if (this.#stopped || this.#timers.has(key)) return;
    this.#timers.set(
      key,
      setTimeout(async () => {
        this.#timers.delete(key);
        if (this.#stopped) return;
        const outcome = await this.#settleOnce(departure.target, departure.transferId);
        if (this.#stopped) return;
        try {
          if (outcome === "accepted") await this.#commit(departure);
          else if (outcome === "aborted") {
            await this.#abort(
              departure,
              "settle",
              new RoamError(
                "unavailable",
                `${departure.target} did not take agent ${departure.agentId}; it stays on this host`,
                { to: departure.target },
              ),
            );
          } else {
            const next = Math.min(
              Math.max(delayMs * 2, this.#o.settleRetryMs),
              SETTLE_RETRY_MAX_MS,
            );
            this.#settleLater(departure, next);
          }
        } catch (error) {
          this.#o.log(
            `roam: settling the move of agent ${departure.agentId}: ${(error as Error).message}`,
          );
        }
      }, delayMs),
    );
  }

  async #settleOnce(url: string, transferId: string): Promise<"accepted" | "aborted" | "unknown"> {
    try {
      const result = await this.#client(url, this.#o.preflightTimeoutMs).call("agent.settle", {
        transferId,
      }) as { outcome: "accepted" | "aborted" };
      return result.outcome === "accepted" ? "accepted" : "aborted";
    } catch {
      return "unknown";
    }
  }

  async #deliver(url: string, envelope: Envelope): Promise<void> {
    const ack = await this.#client(url, this.#o.transferTimeoutMs).call("agent.receive", {
      envelope,
    }) as { accepted?: unknown; transferId?: unknown };
    if (ack?.accepted !== true || ack.transferId !== envelope.transferId) {
      throw new RoamError("internal", `${url} answered agent.receive without an acknowledgement`, {
        to: url,
      });
    }
  }

  /** Tell the target it may start the agent; it starts it on its own after a grace period anyway. */
  async #askToStart(url: string, transferId: string, id: string): Promise<void> {
    try {
      await this.#client(url, this.#o.transferTimeoutMs).call("agent.commit", { transferId });
    } catch (error) {
      this.#o.log(
        `roam: ${url} did not confirm the start of agent ${id} (${
          (error as Error).message
        }); it starts there on its own`,
      );
    }
  }

  async #preflight(url: string): Promise<{ id: string; name: string }> {
    try {
      const info = await this.#client(url, this.#o.preflightTimeoutMs).call("host.info", {}) as {
        id: string;
        name: string;
      };
      return info;
    } catch (error) {
      if (isRoamError(error, "unauthorized")) {
        throw new RoamError(
          "forbidden",
          `${url} does not accept this host's token: it belongs to another mesh (another secret); nothing moved`,
          { to: url, stage: "preflight" },
        );
      }
      throw new RoamError(
        "unavailable",
        `cannot reach ${url} to move an agent there: ${(error as Error).message}; nothing moved`,
        { to: url, stage: "preflight" },
      );
    }
  }

  // Target side ------------------------------------------------------------

  /**
   * Take an envelope: check it, fetch and check the agent's code when this
   * host lacks it, store the envelope durably, and acknowledge. The agent is
   * not started here; {@linkcode AgentMobility.commit} (or the grace period)
   * starts it. Receiving the same transfer again returns the same answer.
   */
  async receive(raw: unknown): Promise<{ accepted: true; transferId: string; duplicate: boolean }> {
    this.#alive();
    const parsed = EnvelopeSchema.safeParse(raw);
    if (!parsed.success) {
      const version = (raw as { v?: unknown })?.v;
      const issue = parsed.error.issues[0];
      throw new RoamError(
        "invalid_input",
        version !== ENVELOPE_VERSION
          ? `this host reads agent envelopes of version ${ENVELOPE_VERSION}, not ${
            JSON.stringify(version)
          }; run the same roam version on both hosts`
          : `the agent envelope is malformed at ${
            issue.path.join(".") || "its top"
          }: ${issue.message}`,
        { issues: parsed.error.issues.map(({ path, message }) => ({ path, message })) },
      );
    }
    const envelope = parsed.data;
    const earlier = this.#transfers.arrivalPhase(envelope.transferId);
    if (earlier) return acknowledge(earlier, envelope.transferId);
    const inFlight = this.#receiving.get(envelope.transferId);
    if (inFlight) return await inFlight;
    const work = this.#receiveNew(envelope);
    this.#receiving.set(envelope.transferId, work);
    try {
      return await work;
    } finally {
      this.#receiving.delete(envelope.transferId);
    }
  }

  /** The source dropped its copy: start the agent of a stored transfer (idempotent). */
  async commit(transferId: string): Promise<{ id: string; started: boolean }> {
    this.#alive();
    const phase = this.#transfers.arrivalPhase(transferId);
    if (!phase) {
      throw new RoamError("not_found", `this host holds no transfer ${transferId}`, {
        transferId,
      });
    }
    if (phase === "aborted") throw abortedTransfer(transferId);
    return await this.#start(transferId);
  }

  /** Whether this host holds a transfer; one it does not hold is refused for good from now on. */
  settle(transferId: string): { outcome: "accepted" | "aborted" } {
    this.#alive();
    return { outcome: this.#transfers.settle(transferId) };
  }

  /** The manifest and code of an installed plugin, by sha256, for a host an agent of it moves to. */
  async bundle(sha256: string): Promise<{
    name: string;
    version: string;
    sha256: string;
    manifest: Record<string, unknown>;
    code: string;
  }> {
    const plugin = this.#o.plugins.list().find((p) => p.sha256 === sha256);
    if (!plugin) {
      throw new RoamError("not_found", `no installed plugin has the code ${sha256}`, { sha256 });
    }
    return {
      name: plugin.name,
      version: plugin.version,
      sha256,
      manifest: plugin.manifest as unknown as Record<string, unknown>,
      code: await this.#o.plugins.readCode(plugin),
    };
  }

  async #receiveNew(
    envelope: Envelope,
  ): Promise<{ accepted: true; transferId: string; duplicate: boolean }> {
    this.#checkPlace(envelope);
    await this.#ensureCode(envelope);
    await this.#ensureFiles(envelope); // artifacts
    this.#alive();
    this.#checkPlace(envelope);
    const stored = this.#transfers.store(envelope);
    if (stored.duplicate) return acknowledge(stored.phase, envelope.transferId);
    if (envelope.files?.length) await this.#o.files?.hold(envelope.files, envelope.agent.id); // artifacts
    this.#o.events.append("agent.received", {
      from: envelope.metadata.source.url,
      transferId: envelope.transferId,
      kind: envelope.kind,
      epoch: envelope.epoch,
    }, envelope.agent.id);
    if (await this.#fault("afterStore", envelope.transferId) === "crash" || this.#stopped) {
      throw new RoamError("unavailable", "the host stopped while taking the agent", {
        transferId: envelope.transferId,
      });
    }
    this.#startLater(envelope.transferId, this.#o.commitGraceMs);
    return { accepted: true, transferId: envelope.transferId, duplicate: false };
  }

  /** Refuse an envelope that would make a second copy, or bring back an older one. */
  #checkPlace(envelope: Envelope) {
    const id = envelope.agent.id;
    if (this.#o.agents.has(id)) {
      throw new RoamError(
        "conflict",
        `an agent ${id} is on this host already; a second copy is refused`,
        { id },
      );
    }
    const pending = this.#transfers.pendingArrival(id);
    if (pending && pending.transferId !== envelope.transferId) {
      throw new RoamError("conflict", `agent ${id} is arriving here already`, { id });
    }
    const seen = this.#transfers.lastEpoch(id);
    if (envelope.epoch <= seen) {
      throw new RoamError(
        "conflict",
        `the envelope holds move ${envelope.epoch} of agent ${id}, but move ${seen} already left this host; it is stale`,
        { id, epoch: envelope.epoch, seen },
      );
    }
  }

  /** Make sure the agent's code is installed here, fetching it from the source and checking its sha256. */
  async #ensureCode(envelope: Envelope) {
    const { name, version, sha256 } = envelope.plugin;
    const installed = this.#o.plugins.get(name, version);
    if (installed) {
      if (installed.sha256 === sha256) return;
      throw new RoamError(
        "conflict",
        `this host has ${name}@${version} with other code (sha256 ${installed.sha256}) than the agent runs (${sha256}); give changed code a new version`,
        { name, version, installed: installed.sha256, sha256 },
      );
    }
    const source = envelope.metadata.source.url;
    let bundle: { name: string; version: string; manifest: Record<string, unknown>; code: string };
    try {
      bundle = pluginBundle.result.parse(
        await this.#client(source, this.#o.transferTimeoutMs).call("plugin.bundle", { sha256 }),
      );
    } catch (error) {
      throw new RoamError(
        isRoamError(error, "not_found") ? "not_found" : "unavailable",
        `cannot fetch the code of ${name}@${version} from ${source}: ${(error as Error).message}`,
        { name, version, sha256, from: source },
      );
    }
    const actual = createHash("sha256").update(bundle.code, "utf8").digest("hex");
    if (actual !== sha256) {
      this.#o.events.append("plugin.fetch_refused", {
        name,
        version,
        from: source,
        expected: sha256,
        actual,
      }, name);
      throw new RoamError(
        "invalid_input",
        `the code of ${name}@${version} fetched from ${source} has sha256 ${actual}, not ${sha256} as the agent's envelope says; it was tampered with or damaged, and this host will not run it`,
        { name, version, expected: sha256, actual, tampered: true },
      );
    }
    if (bundle.name !== name || bundle.version !== version) {
      throw new RoamError(
        "invalid_input",
        `${source} sent ${bundle.name}@${bundle.version} for ${name}@${version}`,
        { name, version },
      );
    }
    // The target's operator's grants apply to it; nothing about permissions travels.
    await this.#o.plugins.add({ manifest: bundle.manifest, code: bundle.code }, {
      source: `the manifest of ${name}@${version} from ${source}`,
    });
    this.#o.events.append("plugin.fetched", { name, version, sha256, from: source }, name);
  }

  /** artifacts: the files of agent `id`, for its envelope (none without a files port). */
  async #filesOf(id: string): Promise<{ files?: TravellingFile[] }> {
    const files = this.#o.files ? await this.#o.files.list(id) : [];
    return files.length ? { files } : {};
  }

  /** artifacts: fetch the agent's files from the source (checked by sha256) before acknowledging. */
  async #ensureFiles(envelope: Envelope) {
    const files = envelope.files ?? [];
    if (files.length === 0) return;
    if (!this.#o.files) {
      throw new RoamError(
        "unsupported",
        `agent ${envelope.agent.id} brings ${files.length} files and this host keeps no agent files`,
        { id: envelope.agent.id },
      );
    }
    try {
      await this.#o.files.receive(files, envelope.metadata.source.url);
    } catch (error) {
      throw new RoamError(
        "unavailable",
        `cannot fetch the files of agent ${envelope.agent.id} from ${envelope.metadata.source.url}: ${
          (error as Error).message
        }`,
        { id: envelope.agent.id, from: envelope.metadata.source.url },
      );
    }
  }

  #startLater(transferId: string, delayMs: number) {
    const key = `start:${transferId}`;
    if (this.#stopped || this.#timers.has(key)) return;
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        if (this.#stopped) return;
        this.#start(transferId).catch((error) =>
          this.#o.log(`roam: could not start arrival ${transferId}: ${error.message}`)
        );
      }, delayMs),
    );
  }

  #start(transferId: string): Promise<{ id: string; started: boolean }> {
    let starting = this.#starting.get(transferId);
    if (!starting) {
      starting = this.#startNow(transferId).finally(() => this.#starting.delete(transferId));
      this.#starting.set(transferId, starting);
    }
    return starting;
  }

  async #startNow(transferId: string): Promise<{ id: string; started: boolean }> {
    const arrival = this.#transfers.arrival(transferId);
    if (!arrival) throw new RoamError("not_found", `no transfer ${transferId}`, { transferId });
    if (arrival.phase === "aborted") throw abortedTransfer(transferId);
    if (arrival.phase === "started") return { id: arrival.agentId, started: true };
    clearTimeout(this.#timers.get(`start:${transferId}`));
    this.#timers.delete(`start:${transferId}`);
    const envelope = arrival.envelope!;
    const clone = envelope.kind === "clone";
    const outcome = await this.#o.agents.adopt({
      id: envelope.agent.id,
      plugin: envelope.plugin,
      state: envelope.state,
      policy: envelope.policy,
      messages: envelope.messages,
      mode: clone ? "clone" : "arrive",
      origin: clone ? envelope.agent.cloneOf ?? "" : envelope.metadata.source.url,
      placed: () => this.#transfers.started(envelope),
    });
    this.#o.events.append(clone ? "agent.clone_arrived" : "agent.arrived", {
      from: envelope.metadata.source.url,
      transferId,
      kind: envelope.kind,
      hops: envelope.metadata.hops,
      messages: envelope.messages.length,
      started: outcome.started,
      ...(outcome.reason ? { reason: outcome.reason } : {}),
    }, envelope.agent.id);
    return { id: envelope.agent.id, started: outcome.started };
  }

  // Both sides -------------------------------------------------------------

  /** @internal See {@linkcode AgentTravel.held}. */
  held(id: string): boolean {
    return this.#transfers.isDeparting(id);
  }

  /** @internal See {@linkcode AgentTravel.elsewhere}. */
  async elsewhere(request: SendRequest): Promise<SendOutcome | "arrived" | undefined> {
    const pending = this.#transfers.pendingArrival(request.id);
    if (pending) {
      await this.#start(pending.transferId);
      return "arrived";
    }
    const location = this.#transfers.location(request.id);
    if (!location) return undefined;
    const hops = request.hops ?? 0;
    if (!request.forward || hops >= MAX_FORWARD_HOPS) {
      throw moved(request.id, location.url, location.epoch);
    }
    const timeoutMs = (request.timeoutMs ?? 30_000) + 10_000;
    const outcome = await this.#client(location.url, timeoutMs).call("agent.send", {
      id: request.id,
      kind: request.kind,
      args: request.args,
      priority: request.priority,
      oneway: request.oneway,
      timeoutMs: request.timeoutMs,
      forward: true,
      hops: hops + 1,
      ...(request.from ? { from: request.from } : {}),
    });
    return agentSend.result.parse(outcome) as SendOutcome;
  }

  /** @internal See {@linkcode AgentTravel.request}: `ctx.dispatch` and `ctx.clone(to)`. */
  async request(agentId: string, method: "dispatch" | "clone", to: string): Promise<unknown> {
    if (method === "clone") return (await this.cloneTo(agentId, to)).id;
    this.#alive();
    const url = await this.#resolve(to);
    // After the current message: the move waits for the mailbox to be idle.
    const key = `dispatch:${agentId}:${crypto.randomUUID()}`;
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        this.dispatch(agentId, url, { byAgent: true }).catch((error) =>
          this.#o.log(`roam: agent ${agentId} did not move to ${url}: ${error.message}`)
        );
      }, 0),
    );
    return null;
  }

  #client(url: string, timeoutMs: number): RpcHttpClient {
    const now = Date.now();
    if (!this.#token || this.#token.expiresAt - now < TOKEN_TTL_MS / 2) {
      this.#token = {
        value: this.#o.tokens.mint({ subject: `host:${this.#o.self.id}`, ttlMs: TOKEN_TTL_MS }),
        expiresAt: now + TOKEN_TTL_MS,
      };
    }
    return new RpcHttpClient({ url, token: this.#token.value, timeoutMs });
  }

  async #place(placement: Placement, excludeSelf: boolean): Promise<PlacedHost> {
    if (!this.#o.place) {
      throw new RoamError(
        "unsupported",
        "this host has no mesh to choose a host from; give a host URL",
        {},
      );
    }
    return await this.#o.place(placement, { excludeSelf });
  }

  async #resolve(to: string): Promise<string> {
    return normalizeHostUrl(this.#o.resolve ? await this.#o.resolve(to) : to);
  }

  #here(): string {
    return normalizeHostUrl(this.#o.self.url());
  }

  #source() {
    return { id: this.#o.self.id, name: this.#o.self.name, url: this.#here() };
  }

  async #fault(point: keyof MobilityFaults, transferId: string): Promise<void | "crash"> {
    const fault = this.#o.faults?.[point];
    return fault ? await fault(transferId) : undefined;
  }

  #alive() {
    if (this.#stopped) throw new RoamError("unavailable", "the host is shutting down", {});
  }
}

/** Errors after which the target may or may not have stored the envelope. */
function inDoubt(error: unknown): boolean {
  return !isRoamError(error) ||
    ["timeout", "unavailable", "internal", "cancelled"].includes(error.code);
}

function acknowledge(
  phase: "stored" | "started" | "aborted",
  transferId: string,
): { accepted: true; transferId: string; duplicate: boolean } {
  if (phase === "aborted") throw abortedTransfer(transferId);
  return { accepted: true, transferId, duplicate: true };
}

function abortedTransfer(transferId: string): RoamError {
  return new RoamError(
    "conflict",
    `transfer ${transferId} was settled as not taken by this host; the agent stays on its source`,
    { transferId },
  );
}

function moved(id: string, location: string, epoch: number): RoamError {
  return new RoamError(
    "moved",
    `agent ${id} moved to ${location}; send it there, or ask this host to forward it (forward: true, 'roam agent send --forward')`,
    { id, location, epoch },
  );
}

function refused(id: string, url: string, error: unknown): RoamError {
  const cause = isRoamError(error) ? error : undefined;
  if (cause?.code === "unauthorized") {
    return new RoamError(
      "forbidden",
      `${url} refused agent ${id}: it does not accept this host's token (another mesh, another secret); the agent stays on this host`,
      { id, to: url, targetCode: "unauthorized" },
    );
  }
  return new RoamError(
    cause && cause.code !== "internal" ? cause.code : "unavailable",
    `${url} did not take agent ${id}: ${
      (error as Error)?.message ?? String(error)
    }; the agent stays on this host`,
    { id, to: url, ...(cause ? { targetCode: cause.code } : {}) },
  );
}

function halted(id: string, url: string, transferId: string): RoamError {
  return new RoamError(
    "unavailable",
    `this host stopped in the middle of moving agent ${id} to ${url}; the move is settled when it starts again`,
    { id, to: url, transferId },
  );
}
