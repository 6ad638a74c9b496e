import { type AgentFileStore, serveFileRequest } from "./files.ts";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { RoamError } from "../errors/mod.ts";
import type { EventLog } from "../store/mod.ts";
import { assertNoCodeLoading } from "./code_check.ts";
import { AgentInstance, crashed, type InstanceHost, toWire } from "./instance.ts";
import { DEFAULT_PRIORITY, type Letter, UNQUEUED } from "./mailbox.ts";
import type { StartMode, WireError } from "./protocol.ts";
import { type AgentRecord, AgentRecords, DEFAULT_POLICY, type Policy } from "./records.ts";
import { RunnerPool } from "./sandbox.ts";
import type { Message } from "./sdk/mod.ts";

/** A plugin as the agent runtime needs it. */
export interface AgentPlugin {
  name: string;
  version: string;
  sha256: string;
  manifest: {
    permissions?: Partial<Record<"read" | "write" | "net" | "env", string[]>>;
    resources?: { memoryMb?: number };
    isolation?: "process" | "shared" | "inline";
  };
}

/** Where the agent runtime gets plugins, their code and their permissions. */
export interface PluginSource {
  /** The installed plugin (the newest version when none is given). */
  get(name: string, version?: string): AgentPlugin | undefined;
  /** Its bundle, checked against its sha256. */
  readCode(plugin: AgentPlugin): Promise<string>;
  /** The worker permissions of an agent of this plugin, with its own directories added. */
  permissionsFor(
    plugin: AgentPlugin,
    own: { read: string[]; write: string[] },
  ): Deno.PermissionOptionsObject;
}

/** Handles `ctx.services.*` and `ctx.storage.*` requests, and learns when agents leave. */
export interface AgentServices {
  /** Serve a request from an agent. */
  request(
    agent: { id: string; plugin: string },
    method: string,
    params: Record<string, unknown>,
  ): Promise<unknown>;
  /** An agent left this host (disposed, deactivated, crashed, moved). */
  left(agentId: string): void;
}

/**
 * What the manager asks of the mobility layer (moves between hosts); see
 * `AgentMobility`. Without one, agents stay on their host.
 */
export interface AgentTravel {
  /** Whether an agent's record must not come back to life here: a move of it is not settled. */
  held(id: string): boolean;
  /**
   * A message for an agent with no record here. Returns `"arrived"` when it
   * had just arrived and is now started (deliver it again), the outcome when
   * it was forwarded to the agent's new host, or undefined when this host
   * never knew it; throws `moved` when it left and the sender did not ask
   * for forwarding.
   */
  elsewhere(request: SendRequest): Promise<SendOutcome | "arrived" | undefined>;
  /** `ctx.dispatch(to)`, or `ctx.clone(to)` to another host, asked by an agent. */
  request(agentId: string, method: "dispatch" | "clone", to: string): Promise<unknown>;
}

/** An agent held still for a move: its mailbox frozen, its state and waiting messages taken. */
export interface FrozenAgent {
  /** Its plugin. */
  plugin: AgentPlugin;
  /** Its state after `onDispatching` (or `onReverting`); also saved as its last good state. */
  state: unknown;
  /** Its sleep policy. */
  policy: Policy;
  /** Messages that waited for it, in the order they would have run. */
  messages: Message[];
  /** The move failed: the agent takes messages again, those that waited first. */
  thaw(): void;
  /** The move committed: the agent leaves this host; senders still waiting learn where it went. */
  drop(location: string): Promise<void>;
}

/** Options for {@linkcode AgentManager}. */
export interface AgentManagerOptions {
  db: DatabaseSync;
  events: EventLog;
  plugins: PluginSource;
  dataDir: string;
  host: { id: string; name: string };
  log: (line: string) => void;
  /** Services and storage; optional until they are wired. */
  services?: AgentServices;
  /** Most messages waiting per agent. Default 1024. */
  mailboxCapacity?: number;
  /** Time limit of a message that sets none. Default 30 s. */
  messageTimeoutMs?: number;
  /** Time limit of start-up and lifecycle hooks. Default 10 s. */
  hookTimeoutMs?: number;
  /** Heap budget of an agent whose plugin names none, in MB. Default 256. */
  defaultMemoryMb?: number;
  /** Keep a runner process started ahead of need. Default true. */
  warmRunner?: boolean;
  /** Moves between hosts; asked lazily, since it is built after the manager. */
  travel?: () => AgentTravel | undefined;
  /** This host's URL, as agents see it in `ctx.host.url`. */
  hostUrl?: () => string;
  /** capabilities (jobs): `ctx.capability(name).call(...)`, asked lazily (the queue is built later). */
  capabilities?: () => AgentCapabilities | undefined;
  /** Where `ctx.files` keeps agents' files (the host's ArtifactStore); none: refused. */
  files?: AgentFileStore;
}

/** capabilities (jobs): serves `ctx.capability(name).call(method, args, options)` for agents. */
export interface AgentCapabilities {
  /** Run the call through the job queue on behalf of `agent`; resolves with the result. */
  call(agent: { id: string; plugin: string }, params: Record<string, unknown>): Promise<unknown>;
}

/** What `send` did with a message. */
export type SendOutcome =
  | { status: "replied"; reply: unknown }
  | { status: "accepted" }
  | { status: "queued"; position: number }
  | { status: "forwarded"; location: string };

/** Options of one message. */
export interface SendRequest {
  id: string;
  kind: string;
  args?: unknown;
  priority?: number;
  oneway?: boolean;
  timeoutMs?: number;
  from?: string | null;
  /** When the agent moved away: deliver to its new host rather than fail with `moved`. */
  forward?: boolean;
  /** Hosts this message was forwarded through already. */
  hops?: number;
}

/** An agent as `agent.list` and `agent.get` describe it. */
export interface AgentSummary {
  id: string;
  plugin: string;
  version: string;
  status: "active" | "inactive" | "crashed";
  queued: number;
  mailbox: number;
  reason: string | null;
  activateAt: string | null;
  createdAt: string;
  updatedAt: string;
  state?: unknown;
}

const QUEUED = Symbol("queued");

/** Most hosts a message follows a moved agent through. */
export const MAX_FORWARD_HOPS = 8;

/** The reply of a message that travelled with its agent to `location`. */
class Forwarded {
  constructor(readonly location: string) {}
}

/**
 * The agents of one host: creating them in sandboxed workers, their
 * mailboxes, sleep and wake with durable records, crash containment and
 * restart from the last good state.
 */
export class AgentManager implements InstanceHost {
  readonly #o:
    & Required<
      Omit<AgentManagerOptions, "services" | "travel" | "hostUrl" | "capabilities" | "files">
    >
    & Pick<AgentManagerOptions, "services" | "travel" | "hostUrl" | "capabilities" | "files">;
  readonly #records: AgentRecords;
  readonly #active = new Map<string, { instance: AgentInstance; plugin: AgentPlugin }>();
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Agents whose start-up hooks are running (they may already call `ctx`). */
  readonly #starting = new Map<string, AgentPlugin>();
  readonly #dirty = new Set<string>();
  /** Agents frozen for a move: messages wait for it to settle; `abandon` lets them go at shutdown. */
  readonly #departing = new Map<
    string,
    { to: string; settled: Promise<void>; abandon: () => void; snapshotted: boolean }
  >();
  readonly #pool: RunnerPool;
  #flushTimer: ReturnType<typeof setInterval> | undefined;
  #wakeTimer: ReturnType<typeof setInterval> | undefined;
  #stopping = false;

  /** Make the manager; call {@linkcode AgentManager.start} to restore agents. */
  constructor(options: AgentManagerOptions) {
    this.#o = {
      mailboxCapacity: 1024,
      messageTimeoutMs: 30_000,
      hookTimeoutMs: 10_000,
      defaultMemoryMb: 256,
      warmRunner: true,
      ...options,
    };
    this.#records = new AgentRecords(options.db);
    this.#pool = new RunnerPool({
      log: options.log,
      warm: this.#o.warmRunner,
      defaultHeapMb: this.#o.defaultMemoryMb,
    });
  }

  /** The root of agents' scratch directories. */
  get scratchRoot(): string {
    return join(this.#o.dataDir, "agents", "scratch");
  }

  /** Wipe scratch space, restore agents that were running (or asked to wake at start), and start the wake scheduler. */
  async start(): Promise<void> {
    await Deno.remove(this.scratchRoot, { recursive: true }).catch(() => {});
    await Deno.mkdir(this.scratchRoot, { recursive: true });
    const restore = this.#records.list().filter((r) =>
      (r.status === "active" || (r.status === "inactive" && r.activateOnStartup)) &&
      !this.#o.travel?.()?.held(r.id)
    );
    for (const record of restore) {
      try {
        await this.#wake(record, record.status === "active" ? "recovered" : "startup");
      } catch (error) {
        this.#o.log(`roam: could not restore agent ${record.id}: ${(error as Error).message}`);
      }
    }
    this.#flushTimer = setInterval(() => this.#flush(), 500);
    this.#wakeTimer = setInterval(() => this.#wakeDue(), 250);
  }

  /** Put every active agent to sleep (they wake at the next start), then stop every runner. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#flushTimer);
    clearInterval(this.#wakeTimer);
    // An agent in the middle of a move keeps its record as it is; the move is settled at the next start.
    const moving = new Set(this.#departing.keys());
    for (const departing of this.#departing.values()) departing.abandon();
    await Promise.all(
      [...this.#active.keys()].filter((id) => !moving.has(id)).map((id) =>
        this.deactivate(id, {}, { reason: "shutdown", activateOnStartup: true }).catch((error) => {
          // The record keeps the last good state as 'active', so the agent is restored at the next start.
          this.#o.log(`roam: agent ${id} did not go to sleep cleanly: ${(error as Error).message}`);
        })
      ),
    );
    this.#flush();
    await this.#pool.close();
  }

  /** Create an agent of an installed plugin; resolves once its start-up hooks ran. */
  async create(
    params: { plugin: string; version?: string; state?: unknown; init?: unknown; id?: string },
  ): Promise<string> {
    const plugin = this.#plugin(params.plugin, params.version);
    // A fixed id is for the host's own use (resident services); callers get a fresh one.
    const id = params.id ?? crypto.randomUUID();
    return await this.#locked(id, async () => {
      if (this.#records.get(id)) {
        throw new RoamError("conflict", `an agent ${id} exists already`, { id });
      }
      const instance = await this.#startInstance(id, plugin, "create", params.state ?? null, {
        init: params.init,
      });
      this.#putNew(id, plugin, instance.state);
      this.#o.events.append("agent.created", { plugin: plugin.name, version: plugin.version }, id);
      return id;
    });
  }

  /** Deliver a message: to the running agent, or by the sleeping agent's policy. */
  async send(request: SendRequest): Promise<SendOutcome> {
    const message: Message = {
      kind: request.kind,
      args: request.args ?? null,
      from: request.from ?? null,
      priority: request.priority ?? DEFAULT_PRIORITY,
      id: crypto.randomUUID(),
    };
    const departing = this.#departing.get(request.id);
    // Until its state is captured the agent is still here: priority 0 skips the paused queue as ever.
    if (departing && (departing.snapshotted || message.priority !== UNQUEUED)) {
      // A message for an agent on its way waits to learn where it settled.
      await this.#settled(request, departing);
      return await this.send(request);
    }
    let entry = this.#active.get(request.id);
    if (!entry) {
      const record = this.#records.get(request.id);
      if (!record) {
        const routed = await this.#o.travel?.()?.elsewhere(request);
        if (routed === "arrived") return await this.send(request);
        if (routed) return routed;
        throw notFound(request.id);
      }
      if (record.status === "crashed") throw crashed(record.id, record.reason ?? "unknown");
      if (!record.policy.activateOnMessage) {
        if (!record.policy.queueWhenInactive) {
          throw new RoamError(
            "inactive",
            `agent ${record.id} is asleep and takes no messages now; activate it with 'roam agent activate ${record.id}'`,
            { id: record.id },
          );
        }
        const position = this.#records.enqueue(record.id, message);
        this.#o.events.append("agent.message_queued", { kind: message.kind, position }, record.id);
        return { status: "queued", position };
      }
      await this.activate(record.id);
      if (this.#departing.has(request.id)) return await this.send(request);
      entry = this.#active.get(request.id);
      if (!entry) throw notFound(request.id);
    }
    const timeoutMs = request.timeoutMs ?? this.#o.messageTimeoutMs;
    const full = message.priority !== UNQUEUED &&
      entry.instance.mailbox.size >= this.#o.mailboxCapacity;
    const reply = entry.instance.mailbox.send(message, timeoutMs).then((value) => {
      this.#dirty.add(request.id);
      return value;
    });
    // A full mailbox refuses at once; a one-way sender hears queue_full rather than "accepted".
    if (full) await reply;
    if (request.oneway) {
      reply.catch((error) =>
        this.#o.log(`roam: one-way message to ${request.id} failed: ${(error as Error).message}`)
      );
      return { status: "accepted" };
    }
    const value = await reply;
    if (value === QUEUED) return { status: "queued", position: this.#records.queued(request.id) };
    if (value instanceof Forwarded) return { status: "forwarded", location: value.location };
    return { status: "replied", reply: value };
  }

  /** Wait until the move of an agent settles, at most as long as the message may take. */
  async #settled(request: SendRequest, departing: { to: string; settled: Promise<void> }) {
    const timeoutMs = request.timeoutMs ?? this.#o.messageTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        departing.settled,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() =>
            reject(
              new RoamError(
                "unavailable",
                `agent ${request.id} is moving to ${departing.to} and its move did not settle within ${timeoutMs} ms; try again shortly`,
                { id: request.id, to: departing.to },
              ),
            ), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    if (this.#stopping) throw new RoamError("unavailable", "the host is shutting down", {});
  }

  /** Send a message to every active agent (optionally of one plugin, and not to `except`); collect the replies. */
  async multicast(
    params: { kind: string; args?: unknown; plugin?: string; timeoutMs?: number; except?: string },
  ): Promise<{ agentId: string; ok: boolean; value?: unknown; error?: WireError }[]> {
    const targets = [...this.#active.entries()].filter(([id, e]) =>
      id !== params.except && (!params.plugin || e.plugin.name === params.plugin)
    );
    return await Promise.all(targets.map(async ([id]) => {
      try {
        const outcome = await this.send({
          id,
          kind: params.kind,
          args: params.args,
          timeoutMs: params.timeoutMs,
          from: params.except ?? null,
        });
        return {
          agentId: id,
          ok: true,
          value: outcome.status === "replied" ? outcome.reply : null,
        };
      } catch (error) {
        return { agentId: id, ok: false, error: toWire(error) };
      }
    }));
  }

  /** Every agent of this host. */
  list(): AgentSummary[] {
    return this.#records.list().map((r) => this.#summary(r, false));
  }

  /** One agent, optionally with its state. */
  get(id: string, withState = false): AgentSummary {
    const record = this.#records.get(id);
    if (!record) throw notFound(id);
    return this.#summary(record, withState);
  }

  /** Put an agent to sleep: `onDeactivating`, then a durable record with its state, policy and waiting messages. */
  async deactivate(
    id: string,
    policy: Partial<Policy> & { activateAt?: number | null } = {},
    options: { reason?: string; activateOnStartup?: boolean } = {},
  ): Promise<void> {
    await this.#locked(id, async () => {
      this.#refuseWhileMoving(id);
      const entry = this.#active.get(id);
      if (!entry) {
        const record = this.#records.get(id);
        if (!record) throw notFound(id);
        if (record.status === "inactive") return;
        throw crashed(id, record.reason ?? "unknown");
      }
      const { instance } = entry;
      instance.mailbox.pause();
      await instance.mailbox.idle();
      const state = await instance.hook("onDeactivating", null, this.#o.hookTimeoutMs);
      const record = this.#records.get(id)!;
      const waiting = instance.mailbox.drain();
      this.#records.put({
        ...record,
        status: "inactive",
        state,
        policy: {
          activateOnMessage: policy.activateOnMessage ?? DEFAULT_POLICY.activateOnMessage,
          queueWhenInactive: policy.queueWhenInactive ?? DEFAULT_POLICY.queueWhenInactive,
        },
        activateAt: policy.activateAt ?? null,
        activateOnStartup: options.activateOnStartup ?? false,
        reason: options.reason ?? "deactivated",
      });
      // Messages that were still waiting are kept for the wake-up, in order.
      for (const letter of waiting) this.#keep(id, letter);
      this.#dirty.delete(id);
      await this.#retire(id, entry, "deactivated");
      this.#o.events.append("agent.deactivated", {
        reason: options.reason ?? "deactivated",
        queued: this.#records.queued(id),
        activateAt: policy.activateAt ? new Date(policy.activateAt).toISOString() : null,
      }, id);
    });
  }

  /** Wake a sleeping agent: `onActivation`, then the messages that waited, in order. */
  async activate(id: string): Promise<void> {
    const record = this.#records.get(id);
    if (!record) throw notFound(id);
    if (record.status === "active" && this.#active.has(id)) return;
    if (record.status === "crashed") throw crashed(id, record.reason ?? "unknown");
    await this.#wake(record, "activated");
  }

  /** Restart a crashed agent from its last good state. */
  async restart(id: string): Promise<void> {
    const record = this.#records.get(id);
    if (!record) throw notFound(id);
    if (record.status !== "crashed") {
      throw new RoamError(
        "conflict",
        `agent ${id} is ${record.status}, not crashed; only a crashed agent restarts`,
        {
          id,
          status: record.status,
        },
      );
    }
    await this.#wake(record, "restarted");
  }

  /** Dispose an agent for good: `onDisposing` when it runs, then its record, queue and scratch space go. */
  async dispose(id: string): Promise<void> {
    await this.#locked(id, async () => {
      this.#refuseWhileMoving(id);
      const record = this.#records.get(id);
      if (!record) throw notFound(id);
      const entry = this.#active.get(id);
      if (entry) {
        entry.instance.mailbox.pause();
        await entry.instance.mailbox.idle();
        await entry.instance.hook("onDisposing", null, this.#o.hookTimeoutMs).catch((error) => {
          this.#o.log(`roam: agent ${id} failed in onDisposing: ${(error as Error).message}`);
        });
        entry.instance.mailbox.fail(new RoamError("not_found", `agent ${id} was disposed`, { id }));
        await this.#retire(id, entry, "disposed");
      }
      this.#records.delete(id);
      this.#dirty.delete(id);
      await Deno.remove(join(this.scratchRoot, id), { recursive: true }).catch(() => {});
      this.#o.events.append("agent.disposed", { wasActive: entry !== undefined }, id);
    });
  }

  /** Copy a running agent: `onCloning` on it, `onClone` on the copy (a new id, the same state), `onCloned` on it. */
  async clone(id: string): Promise<string> {
    const placed = await this.cloneTo(id, async ({ plugin, state }) => {
      const cloneId = crypto.randomUUID();
      await this.#locked(cloneId, async () => {
        const instance = await this.#startInstance(cloneId, plugin, "clone", state, { origin: id });
        this.#putNew(cloneId, plugin, instance.state);
      });
      return { id: cloneId, location: "local" };
    });
    return placed.id;
  }

  /** Kill an agent's runner process (tests use this to stand for an out-of-memory crash). */
  killRunner(id: string): void {
    this.#active.get(id)?.instance.runner.kill();
  }

  // Moves between hosts (driven by AgentMobility) ----------------------------

  /** Whether this host has a record of the agent (running, asleep or crashed). */
  has(id: string): boolean {
    return this.#records.has(id);
  }

  /**
   * Hold a running agent still for a move: messages stop being handed out,
   * the one in progress finishes, `hook` (`onDispatching` or `onReverting`)
   * runs with the target's URL, and the state after it becomes the last good
   * state. Messages that were waiting are taken out to travel; messages that
   * arrive meanwhile wait until the move settles. Exactly one of `thaw` and
   * `drop` must follow.
   */
  async freeze(
    id: string,
    hook: "onDispatching" | "onReverting",
    to: string,
  ): Promise<FrozenAgent> {
    return await this.#locked(id, async () => {
      this.#refuseWhileMoving(id);
      const entry = this.#active.get(id);
      if (!entry) {
        const record = this.#records.get(id);
        if (!record) throw notFound(id);
        if (record.status === "crashed") throw crashed(id, record.reason ?? "unknown");
        throw new RoamError(
          "inactive",
          `agent ${id} is asleep; wake it with 'roam agent activate ${id}' before moving it`,
          { id },
        );
      }
      const { instance } = entry;
      const settled = Promise.withResolvers<void>();
      let letters: Letter[] = [];
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        this.#departing.delete(id);
        settled.resolve();
      };
      const departing = {
        to,
        settled: settled.promise,
        snapshotted: false,
        abandon: () => {
          const error = new RoamError("unavailable", "the host is shutting down", {});
          for (const letter of letters.splice(0)) letter.reject(error);
          finish();
        },
      };
      this.#departing.set(id, departing);
      instance.mailbox.pause();
      let state: unknown;
      try {
        await instance.mailbox.idle();
        state = await instance.hook(hook, to, this.#o.hookTimeoutMs);
      } catch (error) {
        instance.mailbox.resume();
        finish();
        throw error;
      }
      departing.snapshotted = true;
      letters = instance.mailbox.drain();
      this.#records.saveState(id, state);
      this.#dirty.delete(id);
      // A message being delivered from the sleep queue is in both; it travels once.
      const kept = this.#records.peek(id, Number.MAX_SAFE_INTEGER).map((k) => k.message);
      const keptIds = new Set(kept.map((m) => m.id));
      const messages = [
        ...kept,
        ...letters.map((l) => l.message).filter((m) => !keptIds.has(m.id)),
      ];
      return {
        plugin: entry.plugin,
        state,
        policy: this.#records.get(id)?.policy ?? DEFAULT_POLICY,
        messages,
        thaw: () => {
          if (done) return;
          for (const letter of letters.splice(0)) {
            instance.mailbox.send(letter.message, letter.timeoutMs).then(
              letter.resolve,
              letter.reject,
            );
          }
          instance.mailbox.resume();
          finish();
        },
        drop: async (location: string) => {
          if (done) return;
          await this.#locked(id, async () => {
            this.#records.delete(id);
            if (this.#active.get(id) === entry) {
              await this.#retire(id, entry, `moved to ${location}`);
            }
            await Deno.remove(join(this.scratchRoot, id), { recursive: true }).catch(() => {});
          });
          for (const letter of letters.splice(0)) letter.resolve(new Forwarded(location));
          finish();
        },
      };
    });
  }

  /**
   * Start an agent that arrived from another host, or a clone made there:
   * `onArrival(from)` (or `onClone(originalId)`), `run()`, then the messages
   * that travelled with it, in order. An agent that fails to start is kept as
   * crashed with the state it brought, to be restarted; it is never dropped.
   */
  async adopt(params: {
    id: string;
    plugin: { name: string; version: string; sha256: string };
    state: unknown;
    policy: Policy;
    messages: Message[];
    mode: "arrive" | "clone";
    /** The source host's URL (arrival) or the original's id (clone). */
    origin: string;
    /** Called once the agent's record exists (running or crashed), in the same step. */
    placed?: () => void;
  }): Promise<{ started: boolean; reason?: string }> {
    const outcome = await this.#locked(params.id, async () => {
      if (this.#records.get(params.id)) {
        params.placed?.();
        return { started: true, fresh: false };
      }
      const plugin = this.#o.plugins.get(params.plugin.name, params.plugin.version);
      let reason: string | undefined;
      let state = params.state;
      try {
        if (!plugin || plugin.sha256 !== params.plugin.sha256) {
          throw new RoamError(
            "not_found",
            `plugin ${params.plugin.name}@${params.plugin.version} (${
              params.plugin.sha256.slice(0, 12)
            }) is not installed`,
            {},
          );
        }
        const instance = await this.#startInstance(params.id, plugin, params.mode, params.state, {
          origin: params.origin,
        });
        state = instance.state;
      } catch (error) {
        reason = `${params.mode === "clone" ? "clone" : "arrival"} failed: ${
          (error as Error).message
        }`;
      }
      this.#records.put({
        id: params.id,
        plugin: params.plugin.name,
        version: params.plugin.version,
        sha256: params.plugin.sha256,
        status: reason ? "crashed" : "active",
        state,
        policy: params.policy,
        activateAt: null,
        activateOnStartup: false,
        reason: reason ?? null,
      });
      for (const message of params.messages) this.#records.enqueue(params.id, message);
      params.placed?.();
      return { started: !reason, reason, fresh: true };
    });
    if (!outcome.fresh) return { started: outcome.started };
    if (outcome.reason) {
      this.#o.events.append("agent.crashed", { reason: outcome.reason }, params.id);
      return { started: false, reason: outcome.reason };
    }
    await this.#drainQueue(params.id);
    return { started: true };
  }

  /**
   * Copy a running agent to another host: `onCloning` here, then `place`
   * delivers the copy (a new id) and starts it there, then `onCloned` here.
   */
  async cloneTo(
    id: string,
    place: (
      snapshot: { plugin: AgentPlugin; state: unknown; policy: Policy },
    ) => Promise<{ id: string; location: string }>,
  ): Promise<{ id: string; location: string }> {
    this.#refuseWhileMoving(id);
    const entry = this.#active.get(id);
    if (!entry) {
      throw this.#records.get(id)
        ? new RoamError("inactive", `agent ${id} is not running; activate it first`, { id })
        : notFound(id);
    }
    const state = await entry.instance.hook("onCloning", null, this.#o.hookTimeoutMs);
    const placed = await place({
      plugin: entry.plugin,
      state,
      policy: this.#records.get(id)?.policy ?? DEFAULT_POLICY,
    });
    await entry.instance.hook("onCloned", placed.id, this.#o.hookTimeoutMs);
    this.#o.events.append("agent.cloned", { clone: placed.id, location: placed.location }, id);
    return placed;
  }

  /** Drop the record of an agent whose move committed while this host was down. */
  async forget(id: string): Promise<void> {
    await this.#locked(id, async () => {
      const entry = this.#active.get(id);
      if (entry) await this.#retire(id, entry, "moved away");
      this.#records.delete(id);
      this.#dirty.delete(id);
      await Deno.remove(join(this.scratchRoot, id), { recursive: true }).catch(() => {});
    });
  }

  /** Tell an agent that its own `ctx.dispatch(to)` failed (`onDispatchFailed`); it stays here. */
  async dispatchFailed(id: string, to: string, error: WireError): Promise<void> {
    const entry = this.#active.get(id);
    if (!entry) return;
    try {
      await entry.instance.hook("onDispatchFailed", { to, error }, this.#o.hookTimeoutMs);
      this.#dirty.add(id);
    } catch (failure) {
      this.#o.log(`roam: agent ${id} failed in onDispatchFailed: ${(failure as Error).message}`);
    }
  }

  // InstanceHost ------------------------------------------------------------

  /** @internal A `ctx` request from an agent. */
  async request(
    instance: AgentInstance,
    method: string,
    params: Record<string, unknown>,
  ): Promise<unknown> {
    const self = instance.id;
    const plugin = (this.#active.get(self)?.plugin ?? this.#starting.get(self))?.name ?? "";
    switch (method) {
      case "send": {
        const to = String(params.to);
        // Agents address each other by id: a message for one that moved follows it.
        const oneway = params.oneway === true;
        const priority = typeof params.priority === "number" ? params.priority : undefined;
        if (to === self && !oneway && priority !== UNQUEUED) {
          throw new RoamError(
            "conflict",
            "an agent cannot wait for a reply from its own mailbox (it is busy with this message); use sendOneway or priority 0",
            {},
          );
        }
        const outcome = await this.send({
          id: to,
          kind: String(params.kind),
          args: params.args,
          oneway,
          priority,
          timeoutMs: typeof params.timeoutMs === "number" ? params.timeoutMs : undefined,
          from: self,
          forward: true,
        });
        return outcome.status === "replied" ? outcome.reply : null;
      }
      case "multicast":
        return await this.multicast({
          kind: String(params.kind),
          args: params.args,
          plugin: typeof params.plugin === "string" ? params.plugin : undefined,
          timeoutMs: typeof params.timeoutMs === "number" ? params.timeoutMs : undefined,
          except: self,
        });
      case "create":
        return await this.create({
          plugin: String(params.plugin),
          state: params.state,
          init: params.init,
        });
      case "dispose": {
        const target = String(params.id ?? self);
        // Disposing itself must wait until the current message is done.
        if (target === self) setTimeout(() => this.dispose(self).catch(() => {}), 0);
        else await this.dispose(target);
        return null;
      }
      case "deactivate":
        setTimeout(() =>
          this.deactivate(self, {
            activateOnMessage: params.activateOnMessage as boolean | undefined,
            queueWhenInactive: params.queueWhenInactive as boolean | undefined,
            activateAt: params.activateAt as number | undefined,
          }, { reason: "self" }).catch((error) =>
            this.#o.log(`roam: agent ${self} could not deactivate: ${error.message}`)
          ), 0);
        return null;
      case "clone":
        if (typeof params.to === "string") {
          return await this.#travel().request(self, "clone", params.to);
        }
        return await this.clone(self);
      case "dispatch":
        return await this.#travel().request(self, "dispatch", String(params.to));
      case "log":
        this.#o.log(`agent ${self}: ${String(params.message).slice(0, 2000)}`);
        return null;
      case "files.put":
      case "files.get":
      case "files.list":
      case "files.delete":
        return await serveFileRequest(this.#o.files, self, method, params);
      case "capability.call": { // capabilities (jobs)
        const capabilities = this.#o.capabilities?.();
        if (!capabilities) {
          throw new RoamError("unsupported", "this host runs no capabilities", { method });
        }
        return await capabilities.call({ id: self, plugin }, params);
      }
      default:
        if (!this.#o.services) {
          throw new RoamError("unsupported", `${method} is not available on this host`, { method });
        }
        return await this.#o.services.request({ id: self, plugin }, method, params);
    }
  }

  /** @internal An agent's worker died: keep its last good state, mark it crashed. */
  crashed(instance: AgentInstance, reason: string): void {
    const entry = this.#active.get(instance.id);
    if (!entry || entry.instance !== instance) return;
    this.#active.delete(instance.id);
    this.#dirty.delete(instance.id);
    const record = this.#records.get(instance.id);
    if (record) this.#records.put({ ...record, status: "crashed", state: instance.state, reason });
    this.#o.services?.left(instance.id);
    this.#pool.release(instance.runner).catch(() => {});
    this.#o.events.append("agent.crashed", { reason }, instance.id);
    this.#o.log(`roam: agent ${instance.id} crashed: ${reason}`);
  }

  /** @internal An agent's state changed outside a message. */
  stateChanged(instance: AgentInstance): void {
    this.#dirty.add(instance.id);
  }

  /** @internal An agent's `run()` threw. */
  runFailed(instance: AgentInstance, error: WireError): void {
    this.#o.events.append("agent.run_failed", { error: error.message }, instance.id);
  }

  // -------------------------------------------------------------------------

  #travel(): AgentTravel {
    const travel = this.#o.travel?.();
    if (!travel) {
      throw new RoamError("unsupported", "this host does not move agents between hosts", {});
    }
    return travel;
  }

  #refuseWhileMoving(id: string) {
    const departing = this.#departing.get(id);
    if (departing) {
      throw new RoamError(
        "conflict",
        `agent ${id} is moving to ${departing.to}; try again once the move has settled`,
        { id, to: departing.to },
      );
    }
  }

  /** The record of an agent that has just started for the first time on this host. */
  #putNew(id: string, plugin: AgentPlugin, state: unknown) {
    this.#records.put({
      id,
      plugin: plugin.name,
      version: plugin.version,
      sha256: plugin.sha256,
      status: "active",
      state,
      policy: DEFAULT_POLICY,
      activateAt: null,
      activateOnStartup: false,
      reason: null,
    });
  }

  #plugin(name: string, version?: string): AgentPlugin {
    const plugin = this.#o.plugins.get(name, version);
    if (!plugin) {
      throw new RoamError(
        "not_found",
        `no plugin ${name}${
          version ? `@${version}` : ""
        } is installed; install it with 'roam plugin add PATH'`,
        { plugin: name, version },
      );
    }
    return plugin;
  }

  async #startInstance(
    id: string,
    plugin: AgentPlugin,
    mode: StartMode,
    state: unknown,
    extra: { init?: unknown; origin?: string },
  ): Promise<AgentInstance> {
    if (this.#stopping) throw new RoamError("unavailable", "the host is shutting down", {});
    const code = await this.#o.plugins.readCode(plugin);
    assertNoCodeLoading(code, plugin.name);
    const scratchDir = join(this.scratchRoot, id);
    const dir = join(this.#o.dataDir, "agents", "storage", plugin.name);
    await Deno.mkdir(scratchDir, { recursive: true });
    await Deno.mkdir(dir, { recursive: true });
    const permissions = this.#o.plugins.permissionsFor(plugin, {
      read: [scratchDir, dir],
      write: [scratchDir, dir],
    });
    const runner = await this.#pool.acquire({
      heapMb: plugin.manifest.resources?.memoryMb ?? this.#o.defaultMemoryMb,
      sharedKey: plugin.manifest.isolation === "shared" ? plugin.name : undefined,
      inline: plugin.manifest.isolation === "inline",
    });
    this.#starting.set(id, plugin);
    try {
      const instance = await AgentInstance.start({
        runner,
        permissions,
        host: this,
        mailboxCapacity: this.#o.mailboxCapacity,
        startTimeoutMs: this.#o.hookTimeoutMs,
        init: {
          op: "init",
          code,
          id,
          host: { ...this.#o.host, url: this.#o.hostUrl?.() },
          plugin: { name: plugin.name, version: plugin.version, sha256: plugin.sha256 },
          mode,
          state,
          init: extra.init,
          origin: extra.origin,
          storage: { scratchDir, dir },
        },
      });
      this.#active.set(id, { instance, plugin });
      return instance;
    } catch (error) {
      // Whatever it advertised during a failed start goes with it.
      this.#o.services?.left(id);
      await this.#pool.release(runner);
      throw error;
    } finally {
      this.#starting.delete(id);
    }
  }

  /** Start a sleeping, crashed or interrupted agent from its record, then deliver what waited for it. */
  async #wake(
    record: AgentRecord,
    how: "activated" | "restarted" | "recovered" | "startup" | "scheduled",
  ) {
    await this.#locked(record.id, async () => {
      if (this.#active.has(record.id)) return;
      if (this.#o.travel?.()?.held(record.id)) {
        throw new RoamError(
          "unavailable",
          `agent ${record.id} is in transit: its move to another host is not settled yet, and it comes back to life here only if that host did not take it; try again shortly`,
          { id: record.id },
        );
      }
      const plugin = this.#o.plugins.get(record.plugin, record.version);
      if (!plugin || plugin.sha256 !== record.sha256) {
        throw new RoamError(
          "not_found",
          `agent ${record.id} needs plugin ${record.plugin}@${record.version} (${
            record.sha256.slice(0, 12)
          }), which is not installed`,
          { id: record.id, plugin: record.plugin, version: record.version },
        );
      }
      const mode: StartMode = how === "restarted" || how === "recovered" ? "restart" : "activate";
      const instance = await this.#startInstance(record.id, plugin, mode, record.state, {});
      this.#records.put({
        ...record,
        status: "active",
        state: instance.state,
        activateAt: null,
        activateOnStartup: false,
        reason: null,
      });
    });
    const delivered = await this.#drainQueue(record.id);
    this.#o.events.append(`agent.${how}`, { queuedDelivered: delivered }, record.id);
  }

  /** Deliver queued messages in order, each removed only after its handler finished. */
  async #drainQueue(id: string): Promise<number> {
    let delivered = 0;
    while (true) {
      const batch = this.#records.peek(id, 100);
      if (batch.length === 0) return delivered;
      for (const { seq, message } of batch) {
        const entry = this.#active.get(id);
        if (!entry) return delivered; // it went back to sleep or crashed: the rest keep waiting
        try {
          await entry.instance.mailbox.send(message, this.#o.messageTimeoutMs);
        } catch (error) {
          if (!this.#active.has(id)) return delivered;
          this.#o.events.append("agent.message_failed", {
            kind: message.kind,
            error: (error as Error).message,
          }, id);
        }
        this.#records.remove(seq);
        this.#dirty.add(id);
        delivered++;
      }
    }
  }

  #keep(id: string, letter: Letter) {
    this.#records.enqueue(id, letter.message);
    letter.resolve(QUEUED);
  }

  async #retire(id: string, entry: { instance: AgentInstance }, reason: string) {
    this.#active.delete(id);
    entry.instance.kill(reason);
    this.#o.services?.left(id);
    await this.#pool.release(entry.instance.runner);
  }

  #flush() {
    for (const id of this.#dirty) {
      const entry = this.#active.get(id);
      if (entry) this.#records.saveState(id, entry.instance.state);
    }
    this.#dirty.clear();
  }

  #wakeDue() {
    for (const id of this.#records.due(Date.now())) {
      const record = this.#records.get(id);
      if (record) {
        this.#wake(record, "scheduled").catch((error) =>
          this.#o.log(`roam: agent ${id} could not wake: ${error.message}`)
        );
      }
    }
  }

  #summary(record: AgentRecord, withState: boolean): AgentSummary {
    const entry = this.#active.get(record.id);
    return {
      id: record.id,
      plugin: record.plugin,
      version: record.version,
      status: record.status,
      queued: this.#records.queued(record.id),
      mailbox: entry?.instance.mailbox.size ?? 0,
      reason: record.reason,
      activateAt: record.activateAt ? new Date(record.activateAt).toISOString() : null,
      createdAt: new Date(record.createdAt).toISOString(),
      updatedAt: new Date(record.updatedAt).toISOString(),
      ...(withState ? { state: entry ? entry.instance.state : record.state } : {}),
    };
  }

  async #locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(fn);
    this.#locks.set(id, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(id) === run) this.#locks.delete(id);
    }
  }
}

function notFound(id: string): RoamError {
  return new RoamError("not_found", `no agent ${id} on this host; 'roam agent ls' lists them`, {
    id,
  });
}
