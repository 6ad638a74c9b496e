import type { DatabaseSync, StatementSync } from "node:sqlite";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";
import type { EventLog } from "../store/mod.ts";
import type { AgentServices, PluginSource, SendOutcome, SendRequest } from "./manager.ts";
import { AgentRecords, type AgentStatus } from "./records.ts";
import type { ContractRef, ServiceRecord } from "./sdk/mod.ts";
import type { AgentStorage } from "./storage.ts";

/** What the registry needs of the agent manager (an {@linkcode AgentManager} fits). */
export interface ServiceAgents {
  /** Deliver a message. */
  send(request: SendRequest): Promise<SendOutcome>;
  /** Create an agent (with a fixed id, for a resident service). */
  create(params: { plugin: string; state?: unknown; id?: string }): Promise<string>;
  /** Wake a sleeping agent. */
  activate(id: string): Promise<void>;
  /** Restart a crashed agent from its last good state. */
  restart(id: string): Promise<void>;
  /** Put an agent to sleep. */
  deactivate(
    id: string,
    policy: { activateOnMessage?: boolean; queueWhenInactive?: boolean },
    options: { reason?: string },
  ): Promise<void>;
  /** Dispose an agent for good. */
  dispose(id: string): Promise<void>;
}

/** Options for {@linkcode ServiceRegistry}. */
export interface ServiceRegistryOptions {
  /** The host's state (with the `resident_services` and `agents` tables). */
  db: DatabaseSync;
  /** Where `service.*` events go. */
  events: EventLog;
  /** Installed plugins, to start resident services. */
  plugins: Pick<PluginSource, "get">;
  /**
   * The agent manager. A function, because the manager is built with this
   * registry as its `services` and so exists only after it.
   */
  agents: () => ServiceAgents;
  /** Serves `storage.*` requests; without it they fail with `unsupported`. */
  storage?: AgentStorage;
  /** Where problems the caller never sees are reported. Default: nowhere. */
  log?: (line: string) => void;
  /** Most advertised records on this host. Default 10 000. */
  maxServices?: number;
  /** Most records one agent may advertise. Default 64. */
  maxPerAgent?: number;
  /** Most records one lookup returns. Default 100. */
  maxResults?: number;
  /** Most resident services. Default 64. */
  maxResidents?: number;
  /** Longest time between checks for idle resident services, in ms. Default 1000. */
  tickMs?: number;
}

/** A host-level declaration of a service whose agent starts on its first call. */
export interface ResidentDeclaration {
  /** Service name. */
  name: string;
  /** The installed plugin whose agent serves it. */
  plugin: string;
  /** Operation names (default: any). */
  capabilities?: string[];
  /** Service version. Default "1". */
  version?: string;
  /** Stop the agent after this long without calls, in ms. Default 30 000. */
  idleMs?: number;
  /** The agent's first state (default: its `initialState()`). */
  state?: unknown;
  /** Free-form facts for lookups. */
  metadata?: Record<string, unknown>;
  /** A typed contract (sets capabilities, version and `metadata.contract`). */
  contract?: ContractRef;
}

/** A service as `service.list` shows it: the record, and for a resident service how it stands. */
export interface ServiceListing extends ServiceRecord {
  /** Set for a resident service. */
  resident?: {
    plugin: string;
    idleMs: number;
    status: "not_started" | AgentStatus;
  };
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const Name = z.string().regex(NAME_RE, {
  message: "must be 1 to 128 of A-Z a-z 0-9 . _ : - starting with a letter or digit",
});
const Version = z.string().min(1).max(64);
const MAX_METADATA_CHARS = 16 * 1024;
const Metadata = z.record(z.string(), z.unknown()).refine(
  (m) => JSON.stringify(m).length <= MAX_METADATA_CHARS,
  { message: `must be at most ${MAX_METADATA_CHARS} characters as JSON` },
);
const ContractRefSchema = z.object({
  name: Name,
  version: Version,
  operations: z.array(Name).min(1).max(64),
});
const MAX_TTL_MS = 30 * 24 * 3600 * 1000;

/** What `services.advertise` takes. */
export const AdvertiseSchema = z.object({
  name: Name,
  capabilities: z.array(Name).max(64).optional(),
  version: Version.optional(),
  ttlMs: z.number().int().min(1).max(MAX_TTL_MS).optional(),
  metadata: Metadata.optional(),
});

/** What `services.lookup` and `service.list` take. */
export const LookupSchema = z.object({
  name: Name.optional(),
  capability: Name.optional(),
  contract: ContractRefSchema.optional(),
});

/** What `services.call` and `service.call` take. */
export const CallSchema = z.object({
  name: Name,
  operation: Name,
  args: z.unknown().optional(),
  priority: z.number().int().min(0).max(10).optional(),
  timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
  contract: ContractRefSchema.optional(),
});

/** What a resident declaration takes. */
export const DeclareSchema = z.object({
  name: Name,
  plugin: z.string().min(1).max(64),
  capabilities: z.array(Name).max(64).optional(),
  version: Version.optional(),
  idleMs: z.number().int().min(10).max(MAX_TTL_MS).optional(),
  state: z.unknown().optional(),
  metadata: Metadata.optional(),
  contract: ContractRefSchema.optional(),
});

interface Entry {
  name: string;
  agentId: string;
  capabilities: string[];
  version: string;
  expiresAt: number | null;
  metadata: Record<string, unknown>;
  advertisedAt: number;
}

interface Resident extends Entry {
  plugin: string;
  idleMs: number;
  state: unknown;
  lastCall: number;
  inFlight: number;
  starting?: Promise<void>;
  stopping?: Promise<void>;
}

type ResidentRow = {
  name: string;
  agent_id: string;
  plugin: string;
  version: string;
  capabilities: string;
  metadata: string;
  idle_ms: number;
  state: string | null;
  created_at: number;
};

/**
 * The services of one host: records keyed by (name, agent) that agents
 * advertise with an optional time to live, lookups by name, capability or
 * typed contract, and calls routed to the first live service that matches.
 * Resident services are declared at host level under a fixed agent id and
 * advertised at once; their agent starts on the first call (one start at a
 * time) and goes back to sleep after a spell without calls.
 *
 * It also answers the agents' `storage.*` requests (through an
 * {@linkcode AgentStorage}), so that the manager has one `services` object.
 *
 * @example
 * const services = new ServiceRegistry({ db, events, plugins, agents: () => manager });
 * const manager = new AgentManager({ ...options, services });
 * await services.declareResident({ name: "clock", plugin: "clock", idleMs: 30_000 });
 * await services.call({ name: "clock", operation: "now" }, null);
 */
export class ServiceRegistry implements AgentServices {
  readonly #o: Required<Omit<ServiceRegistryOptions, "storage">> & { storage?: AgentStorage };
  readonly #records: AgentRecords;
  /** name → agent id → record. */
  readonly #byName = new Map<string, Map<string, Entry>>();
  /** agent id → names it advertised. */
  readonly #byAgent = new Map<string, Set<string>>();
  readonly #residents = new Map<string, Resident>();
  readonly #save: StatementSync;
  readonly #remove: StatementSync;
  #count = 0;
  #nextExpiry = Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #closed = false;

  /** Make the registry, with the resident services declared before. */
  constructor(options: ServiceRegistryOptions) {
    this.#o = {
      log: () => {},
      maxServices: 10_000,
      maxPerAgent: 64,
      maxResults: 100,
      maxResidents: 64,
      tickMs: 1000,
      ...options,
    };
    this.#records = new AgentRecords(options.db);
    this.#save = options.db.prepare(
      `INSERT INTO resident_services (name, agent_id, plugin, version, capabilities, metadata, idle_ms, state, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET plugin = excluded.plugin, version = excluded.version,
         capabilities = excluded.capabilities, metadata = excluded.metadata, idle_ms = excluded.idle_ms,
         state = excluded.state, updated_at = excluded.updated_at`,
    );
    this.#remove = options.db.prepare("DELETE FROM resident_services WHERE name = ?");
    const rows = options.db.prepare("SELECT * FROM resident_services ORDER BY created_at").all();
    const now = Date.now();
    for (const row of rows as ResidentRow[]) {
      this.#residents.set(row.name, {
        name: row.name,
        agentId: row.agent_id,
        plugin: row.plugin,
        version: row.version,
        capabilities: JSON.parse(row.capabilities),
        metadata: JSON.parse(row.metadata),
        expiresAt: null,
        advertisedAt: row.created_at,
        idleMs: row.idle_ms,
        state: row.state === null ? null : JSON.parse(row.state),
        lastCall: now,
        inFlight: 0,
      });
    }
    if (this.#residents.size > 0) this.#arm(now + this.#o.tickMs);
  }

  // AgentServices -------------------------------------------------------------

  /** Serve a `services.*` or `storage.*` request from an agent. */
  async request(
    agent: { id: string; plugin: string },
    method: string,
    params: Record<string, unknown>,
  ): Promise<unknown> {
    switch (method) {
      case "services.advertise":
        return this.advertise(agent.id, parse(AdvertiseSchema, params, "advertise"));
      case "services.withdraw":
        this.withdraw(agent.id, parse(z.object({ name: Name }), params, "withdraw").name);
        return null;
      case "services.lookup":
        return this.lookup(parse(LookupSchema, params, "lookup"));
      case "services.call":
        return (await this.call(parse(CallSchema, params, "call"), agent.id)).reply;
    }
    if (method.startsWith("storage.") && this.#o.storage) {
      return await this.#o.storage.request(agent.plugin, method, params);
    }
    throw new RoamError("unsupported", `${method} is not available on this host`, { method });
  }

  /** An agent left this host: its records go (a resident declaration stays). */
  left(agentId: string): void {
    const names = this.#byAgent.get(agentId);
    if (!names) return;
    for (const name of [...names]) this.#drop(name, agentId, "agent_left");
  }

  // Records --------------------------------------------------------------------

  /**
   * Offer a service from an agent, or renew its record (a renewal that
   * changes nothing is not an event).
   *
   * @throws {RoamError} `quota_exceeded` past the per-agent or per-host limit.
   */
  advertise(agentId: string, service: z.infer<typeof AdvertiseSchema>): ServiceRecord {
    const now = Date.now();
    this.#purge(now);
    const metadata = { ...service.metadata };
    delete metadata.resident; // only declarations say that
    if (metadata.contract !== undefined) {
      metadata.contract = parse(ContractRefSchema, metadata.contract, "metadata.contract");
    }
    const existing = this.#byName.get(service.name)?.get(agentId);
    if (!existing) {
      const mine = this.#byAgent.get(agentId)?.size ?? 0;
      if (mine >= this.#o.maxPerAgent) {
        throw new RoamError(
          "quota_exceeded",
          `agent ${agentId} advertises ${mine} services already, the most one agent may; withdraw one first`,
          { agentId, limit: this.#o.maxPerAgent },
        );
      }
      if (this.#count >= this.#o.maxServices) {
        throw new RoamError(
          "quota_exceeded",
          `this host holds ${this.#count} service records, the most it keeps; give advertisements a ttlMs, or withdraw some`,
          { limit: this.#o.maxServices },
        );
      }
    }
    const entry: Entry = {
      name: service.name,
      agentId,
      capabilities: [...new Set(service.capabilities ?? [])],
      version: service.version ?? "1",
      expiresAt: service.ttlMs ? now + service.ttlMs : null,
      metadata,
      advertisedAt: existing?.advertisedAt ?? now,
    };
    let named = this.#byName.get(entry.name);
    if (!named) this.#byName.set(entry.name, named = new Map());
    named.set(agentId, entry);
    let names = this.#byAgent.get(agentId);
    if (!names) this.#byAgent.set(agentId, names = new Set());
    names.add(entry.name);
    if (!existing) this.#count++;
    if (entry.expiresAt !== null) {
      this.#nextExpiry = Math.min(this.#nextExpiry, entry.expiresAt);
      this.#arm(entry.expiresAt);
    }
    if (!existing || !sameOffer(existing, entry)) {
      this.#o.events.append("service.advertised", {
        name: entry.name,
        version: entry.version,
        capabilities: entry.capabilities,
        expiresAt: iso(entry.expiresAt),
        renewed: existing !== undefined,
      }, agentId);
    }
    return toRecord(entry);
  }

  /** Stop offering a service; returns whether there was a record. */
  withdraw(agentId: string, name: string): boolean {
    return this.#drop(name, agentId, "withdrawn");
  }

  /**
   * Live services by name, capability and/or contract (all when none is
   * given), oldest advertisement first, at most `maxResults`.
   */
  lookup(query: z.infer<typeof LookupSchema> = {}): ServiceRecord[] {
    return this.#match(query).slice(0, this.#o.maxResults).map(toRecord);
  }

  /** Every live service with resident details, for `service.list`. */
  list(query: z.infer<typeof LookupSchema> = {}): ServiceListing[] {
    return this.#match(query).slice(0, this.#o.maxResults).map((entry) => {
      const resident = this.#residents.get(entry.name);
      if (!resident || resident.agentId !== entry.agentId) return toRecord(entry);
      return {
        ...toRecord(entry),
        resident: {
          plugin: resident.plugin,
          idleMs: resident.idleMs,
          status: this.#records.get(resident.agentId)?.status ?? "not_started",
        },
      };
    });
  }

  /**
   * Call `operation` on the first live service that matches (by name, by
   * contract when one is given, offering the operation): a message whose
   * kind is the operation and whose args are `args`. A resident service's
   * agent is started first when it sleeps. A caller never gets its own
   * service.
   *
   * @throws {RoamError} `not_found` when no live service matches; what the agent's handler threw.
   */
  async call(
    params: z.infer<typeof CallSchema>,
    from: string | null,
  ): Promise<{ agentId: string; reply: unknown }> {
    const named = this.#match({ name: params.name, contract: params.contract });
    const others = named.filter((e) => e.agentId !== from);
    const offering = others.filter((e) =>
      e.capabilities.length === 0 || e.capabilities.includes(params.operation)
    );
    if (offering.length === 0) {
      throw noService(params, named.length > others.length, others);
    }
    // A record whose agent vanished without leaving (a failed start) is dropped, and the next is tried.
    for (const entry of offering.slice(0, 3)) {
      const resident = this.#residents.get(entry.name);
      if (resident && resident.agentId === entry.agentId) {
        return { agentId: entry.agentId, reply: await this.#callResident(resident, params, from) };
      }
      try {
        return { agentId: entry.agentId, reply: await this.#send(entry.agentId, params, from) };
      } catch (error) {
        if (!this.#vanished(error, entry.agentId)) throw error;
        this.left(entry.agentId);
      }
    }
    throw noService(params, false, []);
  }

  // Resident services ------------------------------------------------------------

  /**
   * Declare a resident service: advertised at once under a fixed agent id
   * (kept across restarts and idle stops), its agent started on the first
   * call. Declaring a name again updates it; a different plugin while its
   * agent runs is a `conflict`.
   *
   * The agent wakes with `onActivation` (never `onCreation`), from the
   * declared state or its `initialState()`.
   */
  async declareResident(declaration: ResidentDeclaration): Promise<ServiceListing> {
    const d = parse(DeclareSchema, declaration, "declaration");
    const plugin = this.#o.plugins.get(d.plugin);
    if (!plugin) {
      throw new RoamError(
        "not_found",
        `no plugin ${d.plugin} is installed to serve ${d.name}; install it with 'roam plugin add PATH'`,
        { plugin: d.plugin },
      );
    }
    const existing = this.#residents.get(d.name);
    if (!existing && this.#residents.size >= this.#o.maxResidents) {
      throw new RoamError(
        "quota_exceeded",
        `this host declares ${this.#residents.size} resident services, the most it may; undeclare one first`,
        { limit: this.#o.maxResidents },
      );
    }
    const agentId = existing?.agentId ?? crypto.randomUUID();
    if (existing && existing.plugin !== d.plugin) {
      const record = this.#records.get(agentId);
      if (record?.status === "active") {
        throw new RoamError(
          "conflict",
          `resident service ${d.name} runs plugin ${existing.plugin} now; undeclare it first with service.undeclare`,
          { name: d.name, plugin: existing.plugin },
        );
      }
      if (record) await this.#o.agents().dispose(agentId);
    }
    const now = Date.now();
    const metadata: Record<string, unknown> = { ...d.metadata };
    delete metadata.resident;
    if (d.contract) metadata.contract = d.contract;
    const declared = {
      plugin: d.plugin,
      version: d.contract?.version ?? d.version ?? "1",
      capabilities: d.contract ? [...d.contract.operations] : [...new Set(d.capabilities ?? [])],
      metadata,
      idleMs: d.idleMs ?? 30_000,
      state: d.state ?? null,
    };
    // Calls in flight hold the existing object, so a new declaration updates it in place.
    const resident: Resident = existing ? Object.assign(existing, declared) : {
      ...declared,
      name: d.name,
      agentId,
      expiresAt: null,
      advertisedAt: now,
      lastCall: now,
      inFlight: 0,
    };
    this.#save.run(
      resident.name,
      agentId,
      resident.plugin,
      resident.version,
      JSON.stringify(resident.capabilities),
      JSON.stringify(resident.metadata),
      resident.idleMs,
      JSON.stringify(resident.state),
      resident.advertisedAt,
      now,
    );
    this.#residents.set(resident.name, resident);
    this.#arm(now + this.#o.tickMs);
    this.#o.events.append("service.advertised", {
      name: resident.name,
      version: resident.version,
      capabilities: resident.capabilities,
      expiresAt: null,
      resident: { plugin: resident.plugin, idleMs: resident.idleMs },
      renewed: existing !== undefined,
    }, agentId);
    return this.list({ name: resident.name }).find((s) => s.agentId === agentId)!;
  }

  /** Remove a resident declaration and dispose of its agent; returns whether it was declared. */
  async undeclareResident(name: string): Promise<boolean> {
    const resident = this.#residents.get(name);
    if (!resident) return false;
    this.#residents.delete(name);
    this.#remove.run(name);
    if (this.#records.get(resident.agentId)) {
      await this.#o.agents().dispose(resident.agentId).catch((error) => {
        if (!(error instanceof RoamError && error.code === "not_found")) throw error;
      });
    }
    this.#o.events.append("service.withdrawn", { name, reason: "undeclared" }, resident.agentId);
    return true;
  }

  /** Stop the timer; the registry answers nothing time-driven after this. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  // -------------------------------------------------------------------------------

  async #send(
    agentId: string,
    params: z.infer<typeof CallSchema>,
    from: string | null,
  ): Promise<unknown> {
    const outcome = await this.#o.agents().send({
      id: agentId,
      kind: params.operation,
      args: params.args ?? null,
      priority: params.priority,
      timeoutMs: params.timeoutMs,
      from,
    });
    return outcome.status === "replied" ? outcome.reply : null;
  }

  async #callResident(
    resident: Resident,
    params: z.infer<typeof CallSchema>,
    from: string | null,
  ): Promise<unknown> {
    // A call that arrives while the agent is being put to sleep waits, then wakes it again.
    while (resident.stopping) await resident.stopping;
    resident.inFlight++;
    resident.lastCall = Date.now();
    try {
      resident.starting ??= this.#start(resident).finally(() => resident.starting = undefined);
      await resident.starting;
      return await this.#send(resident.agentId, params, from);
    } finally {
      resident.inFlight--;
      resident.lastCall = Date.now();
      this.#arm(resident.lastCall + resident.idleMs);
    }
  }

  /** Make a resident service's agent run: write its record on first use, then wake or restart it. */
  async #start(resident: Resident): Promise<void> {
    let record = this.#records.get(resident.agentId);
    if (record?.status === "active") return;
    const plugin = this.#o.plugins.get(resident.plugin);
    if (!plugin) {
      throw new RoamError(
        "not_found",
        `resident service ${resident.name} needs plugin ${resident.plugin}, which is not installed; install it with 'roam plugin add PATH'`,
        { name: resident.name, plugin: resident.plugin },
      );
    }
    let how: "created" | "activated" | "restarted";
    if (record && record.status === "inactive" && record.sha256 !== plugin.sha256) {
      // Its plugin changed since it last ran: start over from the declared state.
      this.#o.log(
        `roam: resident service ${resident.name}: plugin ${resident.plugin} changed; its agent starts over`,
      );
      record = undefined;
    }
    if (!record) {
      // A record left by an older version of the plugin is replaced.
      this.#records.delete(resident.agentId);
      how = "created";
      await this.#o.agents().create({
        plugin: plugin.name,
        state: resident.state ?? undefined,
        id: resident.agentId,
      });
    } else if (record.status === "crashed") {
      how = "restarted";
      await this.#o.agents().restart(resident.agentId);
    } else {
      how = "activated";
      await this.#o.agents().activate(resident.agentId);
    }
    resident.lastCall = Date.now();
    this.#o.events.append("service.started", {
      name: resident.name,
      plugin: plugin.name,
      version: plugin.version,
      how,
    }, resident.agentId);
  }

  /** Put resident services to sleep that have had no calls (and no messages) for their idle time. */
  #stopIdle(now: number) {
    for (const resident of this.#residents.values()) {
      if (resident.inFlight > 0 || resident.starting || resident.stopping) continue;
      if (now - resident.lastCall < resident.idleMs) continue;
      const record = this.#records.get(resident.agentId);
      if (record?.status !== "active") continue;
      // Messages sent to the agent directly count as use too (its record is touched after each).
      if (now - record.updatedAt < resident.idleMs) continue;
      resident.stopping = this.#o.agents().deactivate(resident.agentId, {
        activateOnMessage: true,
        queueWhenInactive: true,
      }, { reason: "resident-service-idle" }).then(() => {
        this.#o.events.append("service.idle_stopped", {
          name: resident.name,
          idleMs: resident.idleMs,
        }, resident.agentId);
      }, (error) => {
        this.#o.log(
          `roam: resident service ${resident.name} did not stop: ${(error as Error).message}`,
        );
      }).finally(() => resident.stopping = undefined);
    }
  }

  #match(query: z.infer<typeof LookupSchema>): Entry[] {
    this.#purge(Date.now());
    const found: Entry[] = [];
    const consider = (entry: Entry) => {
      if (query.capability && !entry.capabilities.includes(query.capability)) return;
      if (query.contract && !fulfils(entry, query.contract)) return;
      found.push(entry);
    };
    const residents = query.name
      ? [this.#residents.get(query.name)].filter((r) => r !== undefined)
      : [...this.#residents.values()];
    for (const resident of residents) consider(resident);
    const groups = query.name
      ? [this.#byName.get(query.name) ?? new Map<string, Entry>()]
      : this.#byName.values();
    for (const group of groups) {
      for (const entry of group.values()) {
        // A resident agent that advertises its own declared name is one service, not two.
        if (this.#residents.get(entry.name)?.agentId === entry.agentId) continue;
        consider(entry);
      }
    }
    return found.sort((a, b) => a.advertisedAt - b.advertisedAt);
  }

  #drop(name: string, agentId: string, reason: "withdrawn" | "agent_left" | "expired"): boolean {
    const named = this.#byName.get(name);
    if (!named?.delete(agentId)) return false;
    if (named.size === 0) this.#byName.delete(name);
    const names = this.#byAgent.get(agentId);
    names?.delete(name);
    if (names?.size === 0) this.#byAgent.delete(agentId);
    this.#count--;
    if (reason === "expired") this.#o.events.append("service.expired", { name }, agentId);
    else this.#o.events.append("service.withdrawn", { name, reason }, agentId);
    return true;
  }

  /** Drop expired records (cheap when none is due). */
  #purge(now: number) {
    if (now < this.#nextExpiry) return;
    let next = Infinity;
    for (const named of [...this.#byName.values()]) {
      for (const entry of [...named.values()]) {
        if (entry.expiresAt === null) continue;
        if (entry.expiresAt <= now) this.#drop(entry.name, entry.agentId, "expired");
        else next = Math.min(next, entry.expiresAt);
      }
    }
    this.#nextExpiry = next;
  }

  /** Make sure the registry ticks at `at` or sooner. */
  #arm(at: number) {
    if (this.#closed) return;
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    const timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#tick();
    }, Math.max(0, at - Date.now()));
    // The host's life is its listeners', not this check's.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #tick() {
    const now = Date.now();
    this.#purge(now);
    try {
      this.#stopIdle(now);
    } catch (error) {
      this.#o.log(`roam: resident service check failed: ${(error as Error).message}`);
    }
    let next = this.#nextExpiry;
    if (this.#residents.size > 0) next = Math.min(next, now + this.#o.tickMs);
    for (const resident of this.#residents.values()) {
      const due = resident.lastCall + resident.idleMs;
      if (due > now) next = Math.min(next, due);
    }
    if (next < Infinity) this.#arm(next);
  }

  /** Whether `error` says that the agent itself is gone (not that its handler failed). */
  #vanished(error: unknown, agentId: string): boolean {
    return error instanceof RoamError && error.code === "not_found" &&
      error.data.id === agentId && this.#records.get(agentId) === undefined;
  }
}

function fulfils(entry: Entry, contract: ContractRef): boolean {
  const own = entry.metadata.contract as ContractRef | undefined;
  if (entry.name !== contract.name || entry.version !== contract.version || !own) return false;
  if (own.name !== contract.name || own.version !== contract.version) return false;
  const a = new Set(own.operations);
  const b = new Set(contract.operations);
  return a.size === b.size && [...a].every((op) => b.has(op));
}

function sameOffer(a: Entry, b: Entry): boolean {
  return a.version === b.version &&
    JSON.stringify(a.capabilities) === JSON.stringify(b.capabilities) &&
    JSON.stringify(a.metadata) === JSON.stringify(b.metadata) &&
    (a.expiresAt === null) === (b.expiresAt === null);
}

function toRecord(entry: Entry): ServiceRecord {
  const resident = entry as Partial<Resident>;
  return {
    name: entry.name,
    agentId: entry.agentId,
    capabilities: [...entry.capabilities],
    version: entry.version,
    expiresAt: iso(entry.expiresAt),
    metadata: resident.plugin !== undefined
      ? {
        ...entry.metadata,
        resident: { plugin: resident.plugin, idleMs: resident.idleMs, lifecycle: "lazy" },
      }
      : { ...entry.metadata },
  };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function noService(
  params: z.infer<typeof CallSchema>,
  onlySelf: boolean,
  named: Entry[],
): RoamError {
  const what = params.contract
    ? `${params.name}@${params.contract.version} with contract operations ${
      params.contract.operations.join(", ")
    }`
    : params.name;
  if (onlySelf && named.length === 0) {
    return new RoamError(
      "conflict",
      `the only live service ${what} is the caller's own; an agent cannot call itself through the registry`,
      { name: params.name },
    );
  }
  if (named.length > 0) {
    const offered = [...new Set(named.flatMap((e) => e.capabilities))].sort();
    return new RoamError(
      "not_found",
      `no live service ${what} offers operation "${params.operation}"; they offer ${
        offered.join(", ")
      }`,
      { name: params.name, operation: params.operation, offered },
    );
  }
  return new RoamError(
    "not_found",
    `no live service ${what} on this host; 'roam rpc service.list' lists them`,
    { name: params.name, operation: params.operation },
  );
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue.path.length ? `${issue.path.join(".")}: ` : "";
  throw new RoamError("invalid_input", `invalid service ${what}: ${path}${issue.message}`, {
    issues: parsed.error.issues.map(({ path, message }) => ({ path, message })),
  });
}
