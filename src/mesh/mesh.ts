import type { z } from "zod";
import { MeshRecordSchema, type MeshStatsSchema, meshSync } from "../api/mod.ts";
import { RoamError } from "../errors/mod.ts";
import { normalizeHostUrl, RpcHttpClient, sameHostUrl } from "../rpc/mod.ts";
import { BroadcastQueue, retransmitLimit } from "./broadcast.ts";
import type { MeshConfig } from "./config.ts";
import { MeshKeyring } from "./crypto.ts";
import {
  compareIncarnation,
  type Member,
  Membership,
  type MemberState,
  stateOf,
  toWire,
  type Transition,
} from "./membership.ts";
import {
  decodePacket,
  type DropReason,
  encodePacket,
  type Envelope,
  updateBudget,
  updateBytes,
  type WireMember,
} from "./packet.ts";
import {
  hostView,
  memberFromWire,
  memberToWire,
  type MeshHost,
  type MeshMember,
  type MeshRecord,
  metricsToWire,
  urlHost,
} from "./record.ts";
import { ReplayGuard } from "./replay.ts";
import { ResourceMonitor } from "./resources.ts";
import {
  type Endpoint,
  type GossipTransport,
  Transport,
  type TransportOptions,
} from "./transport.ts";

/** Mesh counters, as `mesh.stats` returns them. */
export type MeshStats = z.infer<typeof MeshStatsSchema>;

/** Who this host is, for its record. */
export interface MeshIdentity {
  /** Stable host id. */
  id: string;
  name: string;
  /** roam's version. */
  version: string;
  tags: string[];
  properties: Record<string, string>;
  /** Which start of the host this is; must grow with every restart (the host's start count). */
  epoch: number;
}

/** Where the mesh records its events. */
export interface MeshEventSink {
  append(type: string, data: Record<string, unknown>, subject: string | null): unknown;
}

/** Options for {@linkcode Mesh}. */
export interface MeshOptions {
  /** Settings (see `MeshConfigSchema`). */
  config: MeshConfig;
  /** Who this host is. */
  identity: MeshIdentity;
  /** The host's URLs now, LAN addresses first. */
  urls: () => string[];
  /** Address for the unicast gossip socket: 127.0.0.1 for a loopback-only host, else 0.0.0.0. */
  bindHost: string;
  /** The host's HTTP port; the default gossip port. */
  httpPort: () => number;
  /** The mesh secret. */
  secret: Uint8Array;
  /** Reads the secret file again, for `mesh.rotate`. */
  readSecret?: () => Promise<Uint8Array>;
  /** A bearer token for other hosts' `mesh.*` methods. */
  token: () => string;
  /** Where events go. */
  events?: MeshEventSink;
  /** Where log lines go. */
  log?: (line: string) => void;
  /** Load, RAM and GPU figures; tests pass their own. */
  resources?: ResourceMonitor;
  /**
   * Makes the datagram transport. Default: UDP sockets on the LAN; a host
   * with `--relay` tunnels its gossip through its hub instead.
   */
  transport?: (options: TransportOptions) => GossipTransport;
}

/** Time that must pass between two `mesh.updated` events about one host. */
const UPDATED_MIN_INTERVAL_MS = 5_000;
/** Most probe relays (indirect probes run for others) at once. */
const MAX_RELAYS = 256;
/** Most callers waiting in `mesh.wait` at once. */
const MAX_WAITERS = 1024;
/** Most `mesh.record` fetches at once. */
const MAX_FETCHES = 4;
/** Time limit of one HTTP call to another host. */
const HTTP_TIMEOUT_MS = 3_000;

interface Waiter {
  host: string;
  resolve: (host: MeshHost) => void;
  reject: (error: Error) => void;
}

/**
 * The mesh: this host's view of every roam host on the LAN, kept by SWIM
 * (direct probe, indirect probe through others, suspicion, incarnation
 * numbers) over authenticated, encrypted UDP gossip. Hosts find each other
 * by multicast announcements or through `--peer` URLs; full records (more
 * than a packet holds) are fetched over HTTP with `mesh.record`.
 *
 * @example
 * const mesh = new Mesh({ config, identity, urls: () => host.urls, ... });
 * await mesh.start();
 * await mesh.wait("gpu-box", 10_000);
 * await mesh.stop(); // tells the others it is leaving
 */
export class Mesh {
  readonly #options: MeshOptions;
  readonly #config: MeshConfig;
  readonly #log: (line: string) => void;
  readonly #keyring: MeshKeyring;
  readonly #replay: ReplayGuard;
  readonly #members: Membership;
  readonly #queue = new BroadcastQueue();
  readonly #resources: ResourceMonitor;
  #transport?: GossipTransport;
  readonly #abort = new AbortController();

  #counter = 0;
  #probeSeq = 0;
  #started = false;
  #stopping?: Promise<void>;
  #gossipEndpoint: Endpoint | null = null;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #intervals: ReturnType<typeof setInterval>[] = [];
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #sleepers = new Set<() => void>();
  readonly #acks = new Map<number, () => void>();
  readonly #relays = new Map<number, { to: Endpoint; seq: number; expires: number }>();
  readonly #suspicions = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #probing = new Set<string>();
  #order: string[] = [];
  readonly #fetching = new Set<string>();
  readonly #fetchRetry = new Map<string, number>();
  readonly #nudged = new Map<string, number>();
  readonly #updated = new Map<string, { at: number; timer?: ReturnType<typeof setTimeout> }>();
  readonly #waiters = new Set<Waiter>();
  readonly #seeds: string[];
  #lastSync = Date.now();
  readonly #warned = new Set<string>();
  #token?: { value: string; at: number };

  readonly #stats = {
    packets: { received: 0, accepted: 0, sent: 0, sendErrors: 0, bytesIn: 0, bytesOut: 0 },
    dropped: {
      oversized: 0,
      malformed: 0,
      version: 0,
      unknownKey: 0,
      auth: 0,
      invalid: 0,
      replayed: 0,
      stale: 0,
      foreign: 0,
      full: 0,
    } satisfies Record<DropReason, number>,
    probes: { sent: 0, acked: 0, indirect: 0, suspected: 0, refuted: 0, declaredDead: 0 },
    records: { fetched: 0, failed: 0 },
  };

  /** A mesh for one host; nothing is sent until {@linkcode Mesh.start}. */
  constructor(options: MeshOptions) {
    this.#options = options;
    this.#config = options.config;
    this.#log = options.log ?? ((line) => console.error(line));
    this.#keyring = new MeshKeyring(options.secret);
    this.#replay = new ReplayGuard({
      maxSkewMs: this.#config.maxClockSkewMs,
      maxSenders: Math.max(64, this.#config.maxMembers * 2),
    });
    this.#resources = options.resources ?? new ResourceMonitor({
      onGpusChanged: () => this.#started && this.#bumpIncarnation(),
    });
    const now = Date.now();
    this.#members = new Membership({
      id: options.identity.id,
      name: options.identity.name,
      // Known once the host listens; set by start().
      url: "http://127.0.0.1:1",
      gossipPort: 1,
      epoch: options.identity.epoch,
      incarnation: 0,
      state: "alive",
      stateSince: now,
      lastSeen: now,
    }, { maxMembers: this.#config.maxMembers });
    this.#seeds = [...new Set(this.#config.peers.map(normalizeHostUrl))];
  }

  /** Open the sockets, announce this host, and start probing and gossiping. */
  async start(): Promise<void> {
    if (!this.#config.enabled || this.#started) return;
    const make = this.#options.transport ?? ((options) => new Transport(options));
    this.#transport = make({
      bindHost: this.#options.bindHost,
      port: this.#config.gossipPort ?? this.#options.httpPort(),
      anyPortIfTaken: this.#config.gossipPort === undefined,
      group: this.#config.group,
      onPacket: (packet, from) => this.#onPacket(packet, from),
      log: this.#log,
      onEndpoint: (endpoint) => {
        if (!this.#started || this.#stopping) return;
        this.#gossipEndpoint = endpoint;
        this.#members.self.gossipPort = endpoint.port;
        this.#bumpIncarnation();
      },
    });
    this.#gossipEndpoint = this.#transport.open();
    const self = this.#members.self;
    self.gossipPort = this.#gossipEndpoint.port;
    self.url = this.#primaryUrl();
    this.#started = true;
    this.#resources.start();
    await this.#syncMulticast();
    const c = this.#config;
    this.#intervals.push(
      setInterval(() => this.#probeTick(), c.probeIntervalMs),
      setInterval(() => this.#gossipTick(), c.gossipIntervalMs),
      setInterval(() => this.#announce(), c.announceIntervalMs),
      setInterval(() => this.#maintain(), 1_000),
    );
    this.#announce();
    this.#maintain();
    for (const seed of this.#seeds) this.#track(this.#joinThrough(seed));
  }

  /**
   * Keep joining through a `--peer` while no live member is at that URL:
   * at once, then with backoff (250 ms doubling to 30 s) while it fails.
   */
  async #joinThrough(url: string) {
    let backoffMs = 250;
    while (!this.#stopping) {
      if (this.#seedIsLive(url)) {
        backoffMs = 250;
        await this.#sleep(1_000);
        continue;
      }
      const ok = await this.#syncWith(url);
      backoffMs = ok ? 250 : Math.min(30_000, backoffMs * 2);
      await this.#sleep(ok ? 1_000 : backoffMs);
    }
  }

  /** Whether {@linkcode Mesh.start} has run (and the mesh is enabled). */
  get started(): boolean {
    return this.#started;
  }

  /**
   * Leave the mesh: tell the others this host is leaving (so they mark it
   * `left` at once rather than suspecting it), then close everything.
   * Idempotent.
   */
  stop(): Promise<void> {
    return this.#stopping ??= this.#stop();
  }

  async #stop() {
    for (const id of this.#intervals) clearInterval(id);
    if (this.#started) {
      const self = this.#members.self;
      // One packet per destination: the same bytes twice would look like a replay.
      const bye = () => this.#packet(this.#envelope("bye", {}, "left"));
      const live = this.#members.live().slice(0, 64);
      await Promise.all([
        this.#sendMulticast(bye()),
        ...live.map((m) => this.#send(bye(), this.#endpointOf(m))),
      ]);
      self.state = "left";
    }
    this.#abort.abort();
    for (const wake of this.#sleepers) wake();
    for (const waiter of this.#waiters) {
      waiter.reject(new RoamError("unavailable", "the host is stopping", {}));
    }
    this.#waiters.clear();
    while (this.#tasks.size) await Promise.all(this.#tasks);
    for (const timer of this.#timers) clearTimeout(timer);
    for (const timer of this.#suspicions.values()) clearTimeout(timer);
    for (const u of this.#updated.values()) clearTimeout(u.timer);
    this.#suspicions.clear();
    await this.#resources.stop();
    await this.#transport?.close();
  }

  /** Every known host, this one first, optionally only those in `state`. */
  hosts(state?: MemberState): MeshHost[] {
    const now = Date.now();
    const own = this.record();
    return this.#members.list()
      .filter((m) => !state || m.state === state)
      .map((m) => hostView(m, m.id === this.#members.selfId ? own : null, now));
  }

  /**
   * Resolve with the host named `host` (a name or an id) once it is alive;
   * `timeout` after `timeoutMs`, `cancelled` when `signal` aborts.
   */
  wait(host: string, timeoutMs: number, signal?: AbortSignal): Promise<MeshHost> {
    const found = this.#findAlive(host);
    if (found) return Promise.resolve(found);
    if (this.#stopping) {
      return Promise.reject(new RoamError("unavailable", "the host is stopping", {}));
    }
    if (this.#waiters.size >= MAX_WAITERS) {
      return Promise.reject(
        new RoamError("queue_full", `more than ${MAX_WAITERS} callers are waiting for hosts`, {
          limit: MAX_WAITERS,
        }),
      );
    }
    return new Promise<MeshHost>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#timers.delete(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        host,
        resolve: (h) => {
          done();
          resolve(h);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      const timer = setTimeout(() =>
        waiter.reject(
          new RoamError(
            "timeout",
            `host "${host}" is not alive in the mesh after ${timeoutMs} ms; list the hosts this one knows with 'roam hosts'`,
            { host, timeoutMs },
          ),
        ), timeoutMs);
      this.#timers.add(timer);
      const onAbort = () => waiter.reject(new RoamError("cancelled", "the wait was cancelled", {}));
      signal?.addEventListener("abort", onAbort);
      this.#waiters.add(waiter);
    });
  }

  /**
   * The host with this id or name, as this host knows it (alive ones first
   * when a name is taken twice); undefined when unknown.
   */
  find(host: string): MeshHost | undefined {
    const matches = this.hosts().filter((h) => h.id === host || h.name === host);
    return matches.find((h) => h.id === host) ?? matches.find((h) => h.state === "alive") ??
      matches[0];
  }

  /** Packet, probe and member counters. */
  stats(): MeshStats {
    const members = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const m of this.#members.list()) members[m.state]++;
    const s = this.#stats;
    return {
      enabled: this.#config.enabled,
      gossip: {
        address: this.#gossipEndpoint?.hostname ?? null,
        port: this.#gossipEndpoint?.port ?? null,
      },
      multicast: {
        enabled: this.#config.multicast,
        active: this.#multicastInterfaces().length > 0,
        group: `${this.#config.group.address}:${this.#config.group.port}`,
        interfaces: this.#multicastInterfaces(),
      },
      keys: this.#keyIds(),
      packets: { ...s.packets },
      dropped: { ...s.dropped },
      probes: { ...s.probes },
      members,
      records: { ...s.records },
    };
  }

  /** This host's full record. */
  record(): MeshRecord {
    const id = this.#options.identity;
    const self = this.#members.self;
    const metrics = this.#resources.metrics();
    return {
      id: id.id,
      name: id.name,
      urls: this.#options.urls(),
      version: id.version,
      tags: id.tags,
      properties: id.properties,
      load: metrics.load,
      freeRamMb: metrics.freeRamMb,
      totalRamMb: metrics.totalRamMb,
      gpus: metrics.gpus,
      gossipPort: self.gossipPort,
      epoch: self.epoch,
      incarnation: self.incarnation,
    };
  }

  /**
   * Serve `mesh.sync`: learn the caller (it reached this host with a mesh
   * token, so it is alive) and answer with this host's record and every
   * member it knows.
   */
  sync(from?: MeshMember): { self: MeshRecord; members: MeshMember[] } {
    if (from && this.#started) {
      this.#learn(memberToWire({ ...from, state: "alive" }));
      const m = this.#members.get(from.id);
      if (m && m.epoch === from.epoch) m.lastSeen = Date.now();
    }
    return {
      self: this.record(),
      members: this.#members.list()
        .filter((m) => m.id !== this.#members.selfId)
        .map((m) => memberFromWire(toWire(m))),
    };
  }

  /**
   * Re-read the secret file. `accept`: also open packets sealed with its key
   * (the first round of a rotation). `use`: seal with it, keeping the current
   * key as the accepted previous one (the second round).
   */
  async rotate(phase: "accept" | "use" = "use"): Promise<
    { changed: boolean; current: string; previous: string | null; next: string | null }
  > {
    if (!this.#options.readSecret) {
      throw new RoamError("unsupported", "this host cannot re-read its mesh secret", {});
    }
    const secret = await this.#options.readSecret();
    const changed = phase === "accept"
      ? this.#keyring.accept(secret)
      : this.#keyring.rotate(secret);
    if (changed) {
      this.#log(
        phase === "accept"
          ? `roam: mesh key ${this.#keyring.next?.idHex} accepted; seal with it with 'mesh.rotate'`
          : `roam: mesh packets are now sealed with key ${this.#keyring.current.idHex}`,
      );
    }
    return { changed, ...this.#keyIds() };
  }

  #keyIds() {
    return {
      current: this.#keyring.current.idHex,
      previous: this.#keyring.previous?.idHex ?? null,
      next: this.#keyring.next?.idHex ?? null,
    };
  }

  /**
   * The host's addresses changed (`--bind auto` re-bound): state the new URL
   * with a new incarnation, and join the multicast group on the new
   * interfaces.
   */
  addressesChanged(): void {
    if (!this.#started || this.#stopping) return;
    this.#track(this.#syncMulticast());
    this.#bumpIncarnation();
  }

  // ---- receiving ----

  #onPacket(packet: Uint8Array, from: Endpoint) {
    if (this.#stopping) return;
    const s = this.#stats;
    s.packets.received++;
    s.packets.bytesIn += packet.length;
    const decoded = decodePacket(this.#keyring, packet);
    if (!decoded.ok) return void s.dropped[decoded.reason]++;
    const env = decoded.envelope;
    const self = this.#members.self;
    if (env.f.i === self.id) {
      // Our own multicast, looped back; anything else claiming our id is another process.
      if (env.f.e === self.epoch) return;
      s.dropped.foreign++;
      this.#warnOnce(
        `foreign:${env.f.e}`,
        `roam: a host at ${from.hostname} uses this host's id (${self.id}); did someone copy this data dir?`,
      );
      return;
    }
    const verdict = this.#replay.check(env.f.i, env.f.e, env.q, env.t);
    if (verdict !== "ok") return void s.dropped[verdict]++;
    s.packets.accepted++;

    this.#learn(env.f);
    const sender = this.#members.get(env.f.i);
    const current = sender && sender.epoch === env.f.e;
    if (current) {
      sender.lastSeen = Date.now();
      if (from.hostname !== "0.0.0.0") {
        // Its packets may come from another of its addresses than its URL's (a second LAN card).
        if (from.hostname === urlHost(sender.url)) delete sender.observedHost;
        else sender.observedHost = from.hostname;
      }
      if (env.m) sender.metrics = env.m;
      this.#wantRecord(sender);
    }
    for (const update of env.u ?? []) this.#learn(update);
    const replyTo = from.hostname === "0.0.0.0" && sender ? this.#endpointOf(sender) : from;

    switch (env.k) {
      case "ping":
        this.#send(
          this.#packet(this.#envelope("ack", { p: env.p }), this.#nudgeFor(sender)),
          replyTo,
        );
        return;
      case "ack": {
        const waiting = this.#acks.get(env.p);
        if (waiting) return waiting();
        const relay = this.#relays.get(env.p);
        if (relay) {
          this.#relays.delete(env.p);
          this.#send(this.#packet(this.#envelope("ack", { p: relay.seq })), relay.to);
        }
        break;
      }
      case "req": {
        if (env.x.i === self.id) {
          this.#send(this.#packet(this.#envelope("ack", { p: env.p })), replyTo);
          return;
        }
        if (this.#relays.size >= MAX_RELAYS) this.#relays.delete(this.#relays.keys().next().value!);
        const seq = ++this.#probeSeq;
        this.#relays.set(seq, {
          to: replyTo,
          seq: env.p,
          expires: Date.now() + this.#config.probeTimeoutMs,
        });
        const target = this.#members.get(env.x.i);
        const endpoint = target && target.epoch === env.x.e
          ? this.#endpointOf(target)
          : { hostname: urlHost(env.x.u), port: env.x.g };
        this.#send(this.#packet(this.#envelope("ping", { p: seq })), endpoint);
        break;
      }
      case "ann":
      case "gsp":
      case "bye":
        break;
    }
    if (sender && env.k !== "bye") this.#maybeNudge(sender, replyTo);
  }

  /** Apply news about a member (or about self, which may call for a refutation). */
  #learn(update: WireMember): void {
    if (update.i === this.#members.selfId) return this.#aboutSelf(update);
    const t = this.#members.apply(update);
    if (t === "full") {
      this.#stats.dropped.full++;
      this.#warnOnce(
        "full",
        `roam: the mesh has ${this.#config.maxMembers} members, the most this host keeps; news about more is dropped`,
      );
      return;
    }
    if (t) this.#onTransition(t);
  }

  #aboutSelf(update: WireMember) {
    const self = this.#members.self;
    if (update.e > self.epoch) {
      this.#warnOnce(
        `newer:${update.e}`,
        `roam: the mesh knows a newer start (${update.e}) of this host's id ${self.id}; is its data dir copied elsewhere?`,
      );
      return;
    }
    if (update.e < self.epoch || update.c < self.incarnation) return;
    if (stateOf(update) === "alive" && update.c === self.incarnation) return;
    // Suspected, declared dead or left at our incarnation (or a newer one): refute.
    self.incarnation = update.c + 1;
    this.#stats.probes.refuted++;
    this.#queue.enqueue(toWire(self));
    this.#announce();
    this.#gossipTick(true);
  }

  #onTransition(t: Transition) {
    const m = t.member;
    this.#queue.enqueue(toWire(m));
    const data = { previous: t.previous, restarted: t.restarted };
    switch (m.state) {
      case "alive": {
        this.#clearSuspicion(m.id);
        const rejoined = t.previous === "dead" || t.previous === "left";
        if (t.previous === null || rejoined || t.restarted) {
          this.#event("mesh.joined", m, data);
          this.#order.splice(Math.floor(Math.random() * (this.#order.length + 1)), 0, m.id);
          // Say hello at once, so that it learns this host without waiting for a probe.
          this.#hello(m);
        } else if (t.previous === "suspect") {
          this.#updatedEvent(m, { reason: "refuted" });
        }
        this.#wantRecord(m);
        for (const waiter of this.#waiters) {
          if (waiter.host === m.id || waiter.host === m.name) waiter.resolve(hostView(m, null));
        }
        break;
      }
      case "suspect":
        this.#event("mesh.suspect", m, data);
        this.#startSuspicion(m);
        break;
      case "dead":
        this.#clearSuspicion(m.id);
        this.#event("mesh.dead", m, data);
        break;
      case "left":
        this.#clearSuspicion(m.id);
        this.#event("mesh.left", m, data);
        break;
    }
  }

  // ---- failure detection ----

  #probeTick() {
    this.#expireRelays();
    const target = this.#nextTarget();
    if (target) this.#track(this.#probe(target));
  }

  #nextTarget(): Member | undefined {
    for (let round = 0; round < 2; round++) {
      while (this.#order.length) {
        const m = this.#members.get(this.#order.pop()!);
        if (m && m.id !== this.#members.selfId && (m.state === "alive" || m.state === "suspect")) {
          return m;
        }
      }
      this.#order = shuffle(this.#members.live().map((m) => m.id));
    }
    return undefined;
  }

  async #probe(target: Member) {
    if (this.#probing.has(target.id)) return;
    this.#probing.add(target.id);
    const seq = ++this.#probeSeq;
    let acked!: () => void;
    const ack = new Promise<boolean>((resolve) => acked = () => resolve(true));
    this.#acks.set(seq, acked);
    try {
      const key = { epoch: target.epoch, incarnation: target.incarnation };
      const ping = () =>
        this.#send(
          this.#packet(this.#envelope("ping", { p: seq }), this.#nudgeFor(target)),
          this.#endpointOf(target),
        );
      this.#stats.probes.sent++;
      ping();
      let ok = await Promise.race([ack, this.#sleep(this.#config.ackTimeoutMs)]);
      if (!ok && !this.#stopping) {
        const helpers = shuffle(this.#members.live().filter((m) => m.id !== target.id))
          .slice(0, this.#config.indirectProbes);
        for (const helper of helpers) {
          this.#send(
            this.#packet(this.#envelope("req", { p: seq, x: toWire(target) })),
            this.#endpointOf(helper),
          );
        }
        this.#stats.probes.indirect += helpers.length;
        ping(); // a second direct try: the first may have been lost
        ok = await Promise.race([
          ack,
          this.#sleep(Math.max(0, this.#config.probeTimeoutMs - this.#config.ackTimeoutMs)),
        ]);
      }
      if (this.#stopping) return;
      if (ok) {
        this.#stats.probes.acked++;
        return;
      }
      const now = this.#members.get(target.id);
      if (!now || now.state !== "alive" || compareIncarnation(now, key) !== 0) return;
      this.#stats.probes.suspected++;
      this.#declare(now, "suspect");
    } finally {
      this.#acks.delete(seq);
      this.#probing.delete(target.id);
    }
  }

  /** Change a member's state on this host's own authority and spread the news at once. */
  #declare(m: Member, state: "suspect" | "dead") {
    const t = this.#members.apply(toWire(m, state));
    if (t && t !== "full") this.#onTransition(t);
    this.#gossipTick(true);
  }

  #startSuspicion(m: Member) {
    if (this.#suspicions.has(m.id)) return;
    const key = { epoch: m.epoch, incarnation: m.incarnation };
    const timer = setTimeout(() => {
      this.#suspicions.delete(m.id);
      const now = this.#members.get(m.id);
      if (!now || now.state !== "suspect" || compareIncarnation(now, key) !== 0) return;
      this.#stats.probes.declaredDead++;
      this.#declare(now, "dead");
    }, this.#config.suspicionMs);
    this.#suspicions.set(m.id, timer);
  }

  #clearSuspicion(id: string) {
    clearTimeout(this.#suspicions.get(id));
    this.#suspicions.delete(id);
  }

  #expireRelays() {
    const now = Date.now();
    for (const [seq, relay] of this.#relays) if (relay.expires < now) this.#relays.delete(seq);
  }

  /** A member that this host thinks is not alive gets told, so that it can refute. */
  #nudgeFor(m: Member | undefined): WireMember[] {
    return m && m.state !== "alive" ? [toWire(m)] : [];
  }

  #maybeNudge(m: Member, to: Endpoint) {
    if (m.state === "alive") return;
    const now = Date.now();
    if (now - (this.#nudged.get(m.id) ?? 0) < 1_000) return;
    this.#nudged.set(m.id, now);
    this.#send(this.#packet(this.#envelope("gsp"), [toWire(m)]), to);
  }

  // ---- spreading news ----

  #gossipTick(urgent = false) {
    if (!this.#started || this.#queue.size === 0) return;
    const live = shuffle(this.#members.live()).slice(0, this.#config.fanout);
    for (const m of live) this.#send(this.#packet(this.#envelope("gsp")), this.#endpointOf(m));
    if (urgent || this.#queue.hasFresh()) this.#sendMulticast(this.#packet(this.#envelope("gsp")));
  }

  #announce() {
    if (!this.#started || this.#stopping) return;
    this.#sendMulticast(this.#packet(this.#envelope("ann")));
  }

  #hello(m: Member) {
    this.#send(this.#packet(this.#envelope("gsp")), this.#endpointOf(m));
  }

  #bumpIncarnation() {
    const self = this.#members.self;
    self.url = this.#primaryUrl();
    self.incarnation++;
    this.#queue.enqueue(toWire(self));
    this.#announce();
    this.#gossipTick(true);
  }

  #envelope(
    kind: Envelope["k"],
    extra: { p?: number; x?: WireMember } = {},
    selfState: MemberState = "alive",
  ): Envelope {
    return {
      k: kind,
      f: toWire(this.#members.self, selfState),
      q: ++this.#counter,
      t: Date.now(),
      m: metricsToWire(this.#resources.metrics()),
      ...extra,
    } as Envelope;
  }

  /** Seal an envelope with `direct` updates first, then as much queued news as fits. */
  #packet(env: Envelope, direct: WireMember[] = []): Uint8Array {
    let budget = updateBudget(env);
    const updates: WireMember[] = [];
    for (const update of direct) {
      const bytes = updateBytes(update);
      if (bytes > budget) continue;
      budget -= bytes;
      updates.push(update);
    }
    const limit = retransmitLimit(this.#members.size);
    updates.push(...this.#queue.take(budget, limit, new Set(updates.map((u) => u.i))));
    if (updates.length) env.u = updates;
    return encodePacket(this.#keyring.current, env);
  }

  #send(packet: Uint8Array, to: Endpoint): Promise<void> {
    if (!this.#transport) return Promise.resolve();
    return this.#transport.send(packet, to).then((ok) => this.#count(ok, packet));
  }

  #sendMulticast(packet: Uint8Array): Promise<void> {
    if (!this.#transport || this.#multicastInterfaces().length === 0) return Promise.resolve();
    return this.#transport.sendMulticast(packet).then((ok) => this.#count(ok, packet));
  }

  #multicastInterfaces(): string[] {
    return this.#transport?.multicastInterfaces ?? [];
  }

  #count(ok: boolean, packet: Uint8Array) {
    if (ok) {
      this.#stats.packets.sent++;
      this.#stats.packets.bytesOut += packet.length;
    } else this.#stats.packets.sendErrors++;
  }

  // ---- HTTP: records, joining through peers, anti-entropy ----

  #wantRecord(m: Member) {
    if (!this.#started || this.#stopping) return;
    if (m.state !== "alive" && m.state !== "suspect") return;
    if (m.record && m.record.epoch === m.epoch && m.record.incarnation >= m.incarnation) return;
    if (this.#fetching.has(m.id) || this.#fetching.size >= MAX_FETCHES) return;
    if ((this.#fetchRetry.get(m.id) ?? 0) > Date.now()) return;
    this.#fetching.add(m.id);
    this.#track(this.#fetchRecord(m).finally(() => this.#fetching.delete(m.id)));
  }

  async #fetchRecord(m: Member) {
    try {
      const raw = await this.#client(m.url).call("mesh.record", {}, {
        signal: this.#abort.signal,
      });
      const record = MeshRecordSchema.parse(raw);
      if (record.id !== m.id) {
        throw new Error(`the host at ${m.url} is ${record.id}, not ${m.id}`);
      }
      this.#stats.records.fetched++;
      this.#fetchRetry.delete(m.id);
      this.#takeRecord(record);
    } catch (error) {
      if (this.#stopping) return;
      this.#stats.records.failed++;
      this.#fetchRetry.set(m.id, Date.now() + 5_000);
      this.#warnOnce(
        `record:${m.id}:${m.epoch}`,
        `roam: cannot fetch the record of host "${m.name}" from ${m.url}: ${
          (error as Error).message
        }; retrying`,
      );
    }
  }

  #takeRecord(record: MeshRecord) {
    const m = this.#members.get(record.id);
    if (!m || m.epoch !== record.epoch) return;
    const before = m.record;
    if (before && compareIncarnation(before, record) > 0) return;
    m.record = record;
    if (!m.metrics) {
      m.metrics = {
        l: record.load,
        f: record.freeRamMb,
        t: record.totalRamMb,
        g: record.gpus.map((g) => g.memoryFreeMb),
      };
    }
    if (before && staticChanged(before, record)) {
      this.#updatedEvent(m, { reason: "record", urls: record.urls });
    }
  }

  #maintain() {
    if (this.#stopping) return;
    const now = Date.now();
    for (const id of this.#members.prune(this.#config.deadRetainMs, now)) {
      this.#replay.forget(id);
      this.#fetchRetry.delete(id);
      this.#nudged.delete(id);
      this.#updated.delete(id);
    }
    // A host that restarts may know nobody (no multicast, no --peer): keep greeting one.
    const gone = shuffle(
      this.#members.list().filter((m) => m.state === "dead" || m.state === "left"),
    )[0];
    if (gone) this.#hello(gone);
    if (now - this.#lastSync >= this.#config.syncIntervalMs) {
      this.#lastSync = now;
      const peer = shuffle(this.#members.live().filter((m) => m.state === "alive"))[0];
      if (peer) this.#track(this.#syncWith(peer.url));
    }
  }

  #seedIsLive(url: string): boolean {
    return this.#members.live().some((m) =>
      m.state === "alive" &&
      (sameHostUrl(m.url, url) || (m.record?.urls ?? []).some((u) => sameHostUrl(u, url)))
    );
  }

  async #syncWith(url: string): Promise<boolean> {
    try {
      const raw = await this.#client(url).call("mesh.sync", {
        from: memberFromWire(toWire(this.#members.self)),
      }, { signal: this.#abort.signal });
      const result = meshSync.result.parse(raw);
      const rec = result.self;
      if (rec.id === this.#members.selfId) return true; // a --peer that is this host
      this.#learn({
        i: rec.id,
        n: rec.name,
        u: primaryOf(rec.urls, url),
        g: rec.gossipPort,
        e: rec.epoch,
        c: rec.incarnation,
        s: "a",
      });
      const m = this.#members.get(rec.id);
      if (m && m.epoch === rec.epoch) {
        m.lastSeen = Date.now();
        this.#takeRecord(rec);
      }
      for (const member of result.members) this.#learn(memberToWire(member));
      return true;
    } catch (error) {
      if (!this.#stopping) {
        const e = error as RoamError;
        const hint = e.code === "unauthorized"
          ? " (it has a different mesh secret; copy the secret file from a host of the mesh)"
          : "";
        this.#warnOnce(
          `sync:${url}:${e.code ?? e.message}`,
          `roam: cannot join the mesh through ${url}: ${e.message}${hint}; retrying`,
        );
      }
      return false;
    }
  }

  #client(url: string): RpcHttpClient {
    const now = Date.now();
    // One token for a while: every new token costs the callee a verification.
    if (!this.#token || now - this.#token.at > 30_000) {
      this.#token = { value: this.#options.token(), at: now };
    }
    return new RpcHttpClient({ url, token: this.#token.value, timeoutMs: HTTP_TIMEOUT_MS });
  }

  // ---- small things ----

  async #syncMulticast() {
    const lan = this.#config.multicast && this.#options.bindHost !== "127.0.0.1"
      ? lanHosts(this.#options.urls())
      : [];
    await this.#transport?.setMulticastInterfaces(lan);
  }

  #primaryUrl(): string {
    return this.#options.urls()[0] ?? `http://127.0.0.1:${this.#options.httpPort()}`;
  }

  #endpointOf(m: Member): Endpoint {
    return { hostname: m.observedHost ?? urlHost(m.url), port: m.gossipPort };
  }

  #findAlive(host: string): MeshHost | undefined {
    const own = this.record();
    for (const m of this.#members.list()) {
      if (m.state === "alive" && (m.id === host || m.name === host)) {
        return hostView(m, m.id === this.#members.selfId ? own : null);
      }
    }
    return undefined;
  }

  #event(type: string, m: Member, data: Record<string, unknown> = {}) {
    try {
      this.#options.events?.append(type, {
        name: m.name,
        url: m.url,
        epoch: m.epoch,
        incarnation: m.incarnation,
        ...data,
      }, m.id);
    } catch (error) {
      this.#warnOnce("events", `roam: cannot record a mesh event: ${(error as Error).message}`);
    }
  }

  /** `mesh.updated`, at most one per host per interval; later news in the interval is sent at its end. */
  #updatedEvent(m: Member, data: Record<string, unknown>) {
    const now = Date.now();
    const last = this.#updated.get(m.id);
    if (!last || now - last.at >= UPDATED_MIN_INTERVAL_MS) {
      this.#updated.set(m.id, { at: now });
      this.#event("mesh.updated", m, data);
      return;
    }
    if (last.timer) return;
    last.timer = setTimeout(() => {
      this.#timers.delete(last.timer!);
      this.#updated.set(m.id, { at: Date.now() });
      const current = this.#members.get(m.id);
      if (current) this.#event("mesh.updated", current, data);
    }, last.at + UPDATED_MIN_INTERVAL_MS - now);
    this.#timers.add(last.timer);
  }

  #sleep(ms: number): Promise<false> {
    if (this.#stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#timers.delete(timer);
        this.#sleepers.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(wake, ms);
      this.#timers.add(timer);
      this.#sleepers.add(wake);
    });
  }

  #track(task: Promise<unknown>) {
    const tracked = task.catch((error) =>
      this.#log(`roam: mesh task failed: ${(error as Error)?.stack ?? error}`)
    ).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }

  #warnOnce(key: string, line: string) {
    if (this.#warned.has(key)) return;
    if (this.#warned.size > 1024) this.#warned.clear();
    this.#warned.add(key);
    this.#log(line);
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function lanHosts(urls: readonly string[]): string[] {
  return urls.map(urlHost).filter((h) =>
    /^\d+\.\d+\.\d+\.\d+$/.test(h) && !h.startsWith("127.") && !h.startsWith("169.254.")
  );
}

function primaryOf(urls: readonly string[], fallback: string): string {
  const url = urls.find((u) => !/^https?:\/\/(127\.|\[::1\])/.test(u)) ?? urls[0] ?? fallback;
  return new URL(url).origin;
}

function staticChanged(a: MeshRecord, b: MeshRecord): boolean {
  const pick = (r: MeshRecord) =>
    JSON.stringify([
      r.name,
      r.urls,
      r.version,
      r.tags,
      r.properties,
      r.gpus.map((g) => [g.name, g.memoryTotalMb]),
    ]);
  return pick(a) !== pick(b);
}
