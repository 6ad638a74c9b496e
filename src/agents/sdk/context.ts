import type { ReplySet } from "./reply_set.ts";

/** A message as an agent's `handleMessage` receives it. */
export interface Message {
  /** What is asked, like `"echo"`. */
  kind: string;
  /** Its arguments (plain JSON data). */
  args: unknown;
  /** The sending agent's id, or null when it came from outside (RPC, CLI). */
  from: string | null;
  /** Higher runs first; 0 bypasses the queue. */
  priority: number;
  /** Unique id of this message. */
  id: string;
}

/** Options for sending a message. */
export interface SendOptions {
  /** 1 (lowest) to 10 (highest), default 5; 0 bypasses the queue (it may run beside another handler). */
  priority?: number;
  /** How long the handler may take, in ms. */
  timeoutMs?: number;
}

/** A reply that will arrive later; from {@linkcode AgentContext.sendFuture}. */
export interface FutureReply<T = unknown> {
  /** Whether the reply (or its error) has arrived. */
  readonly isAvailable: boolean;
  /** Wait for the reply. */
  get(): Promise<T>;
}

/** A service record: an agent that offers named operations. */
export interface ServiceRecord {
  /** Service name, like `"thumbnails"`. */
  name: string;
  /** The agent that serves it. */
  agentId: string;
  /** What it can do (operation names). */
  capabilities: string[];
  /** Contract version. */
  version: string;
  /** When the advertisement lapses (ISO time), or null for never. */
  expiresAt: string | null;
  /** Free-form facts. */
  metadata: Record<string, unknown>;
}

/** Advertise and find services. */
export interface ServicesApi {
  /** Offer a service from this agent; it lapses after `ttlMs` unless advertised again, and when the agent leaves. */
  advertise(
    service: {
      name: string;
      capabilities?: string[];
      version?: string;
      ttlMs?: number;
      metadata?: Record<string, unknown>;
    },
  ): Promise<ServiceRecord>;
  /** Stop offering a service. */
  withdraw(name: string): Promise<void>;
  /** Find services by name and/or capability. */
  lookup(query: { name?: string; capability?: string }): Promise<ServiceRecord[]>;
  /** Call an operation of the first service that matches. */
  call(name: string, operation: string, args?: unknown, options?: SendOptions): Promise<unknown>;
}

/** Files that belong to this agent or its plugin. */
export interface StorageApi {
  /** A directory for this agent only, wiped when the host starts. */
  readonly scratchDir: string;
  /** A directory shared by every agent of this plugin, kept across restarts, under a quota. */
  readonly dir: string;
  /** Store a value under a key in the plugin's storage (counted against the quota). */
  put(key: string, value: string | Uint8Array): Promise<void>;
  /** Read a stored value, or null. */
  get(key: string): Promise<Uint8Array | null>;
  /** Remove a stored value. */
  delete(key: string): Promise<void>;
  /** The stored keys. */
  list(): Promise<string[]>;
}

/** A file this agent registered. */
export interface AgentFileInfo {
  /** Its name, as the agent gave it. */
  name: string;
  /** The sha256 of its bytes (its artifact on the host). */
  sha256: string;
  /** Its size in bytes. */
  size: number;
}

/**
 * This agent's registered files: kept in the host's ArtifactStore, they
 * travel with the agent when it is dispatched or cloned (the target fetches
 * and checks them before it takes the agent), and go when it is disposed.
 */
export interface FilesApi {
  /** Register `data` as the file `name` (replacing a file of that name); at most 64 MiB. */
  put(name: string, data: string | Uint8Array): Promise<AgentFileInfo>;
  /** The bytes of file `name`, or null when the agent has none. */
  get(name: string): Promise<Uint8Array | null>;
  /** Every file the agent holds. */
  list(): Promise<AgentFileInfo[]>;
  /** Let go of file `name`; false when there was none. */
  delete(name: string): Promise<boolean>;
}

/** Messages this agent sends itself later (through its own mailbox). */
export interface TimersApi {
  /** Deliver `kind` to this agent once, after `ms`. Returns a timer id. */
  after(ms: number, kind: string, args?: unknown): number;
  /** Deliver `kind` to this agent every `ms`. Returns a timer id. */
  every(ms: number, kind: string, args?: unknown): number;
  /** Stop a timer. */
  cancel(id: number): void;
}

// capabilities (jobs): begin
/** Options of a capability call from an agent. */
export interface CapabilityCallOptions {
  /** The capability's config (one instance serves each distinct config). */
  config?: unknown;
  /** Higher runs first in the host's job queue (0 to 100, default 5). */
  priority?: number;
  /** Time limit of the call, ms (keep it within the message's own time limit). */
  timeoutMs?: number;
  /** Run it on this host of the mesh (a name, an id or a URL). */
  to?: string;
}

/** A capability (a heavy tool run by the host) as an agent calls it. */
export interface CapabilityApi {
  /**
   * Call a method through the host's job queue and return its result;
   * rejects with the job's error (`code`, and `data.category`).
   */
  call(method: string, args?: unknown, options?: CapabilityCallOptions): Promise<unknown>;
}
// capabilities (jobs): end

/** Policy for a deactivated agent. */
export interface DeactivationPolicy {
  /** Wake when a message arrives. Default true. */
  activateOnMessage?: boolean;
  /** Keep messages while asleep (when not waking on them). Default true. */
  queueWhenInactive?: boolean;
  /** Wake at this time (ms since the epoch). */
  activateAt?: number;
}

/** What an agent can do, given to it by the host as `this.ctx`. */
export interface AgentContext {
  /** This agent's id. */
  readonly id: string;
  /** The host it runs on; `url` is where other hosts reach it (when the host knows it). */
  readonly host: { id: string; name: string; url?: string };
  /** Its plugin. */
  readonly plugin: { name: string; version: string };
  /** Send a message and wait for the reply. */
  send(to: string, kind: string, args?: unknown, options?: SendOptions): Promise<unknown>;
  /** Send a message without waiting for its handling. */
  sendOneway(to: string, kind: string, args?: unknown, options?: SendOptions): Promise<void>;
  /** Send a message now and collect the reply later. */
  sendFuture<T = unknown>(
    to: string,
    kind: string,
    args?: unknown,
    options?: SendOptions,
  ): FutureReply<T>;
  /** Send a message to every other active agent of this host (optionally of one plugin) and collect their replies. */
  multicast(
    kind: string,
    args?: unknown,
    options?: { plugin?: string; timeoutMs?: number },
  ): Promise<ReplySet>;
  /** Create another agent on this host; returns its id. */
  create(plugin: string, options?: { state?: unknown; init?: unknown }): Promise<string>;
  /** Dispose an agent (this one when no id is given). */
  dispose(id?: string): Promise<void>;
  /** Put this agent to sleep after the current message. */
  deactivate(policy?: DeactivationPolicy): Promise<void>;
  /**
   * Copy this agent (a new id, the same state), here or, given a host URL,
   * on that host; returns the clone's id. `onCloning` and `onCloned` run
   * here, `onClone` on the copy.
   */
  clone(to?: string): Promise<string>;
  /**
   * Move this agent to the host at `to` (a URL) once the current message, if
   * any, has been handled. It resolves as soon as the move is scheduled, so
   * return right after calling it. `onDispatching(to)` runs here, then the
   * state and the messages still waiting travel, and `onArrival(from)` and
   * `run()` run there. If the move fails the agent stays here and
   * `onDispatchFailed(to, error)` runs.
   */
  dispatch(to: string): Promise<void>;
  /** Services. */
  readonly services: ServicesApi;
  /** A capability installed on this host (or, with `to`, another), called through the job queue. */
  capability(name: string): CapabilityApi; // capabilities (jobs)
  /** Storage. */
  readonly storage: StorageApi;
  /** Files that travel with this agent. */
  readonly files: FilesApi;
  /** Timers. */
  readonly timers: TimersApi;
  /** Write a line to the host's log, tagged with this agent. */
  log(...parts: unknown[]): void;
}

export type { ReplySet };
