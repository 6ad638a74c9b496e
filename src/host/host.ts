import type { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";
import {
  type AuthResult,
  createHttpRpcHandler,
  createWsRpcHandler,
  Dispatcher,
  type MethodImpl,
} from "../rpc/mod.ts";
import { loadOrCreateSecret, readSecret, TokenSigner } from "../security/mod.ts";
import { hostAddress, Mesh, meshMethods, placeAgent } from "../mesh/mod.ts"; // mesh
import { EventLog, HostMeta, openStore } from "../store/mod.ts";
import { DENO_VERSION, ROAM_VERSION } from "../version.ts";
import { createApp } from "./app.ts";
import {
  bindMode,
  type InterfaceSource,
  resolveAddresses,
  systemInterfaces,
  urlFor,
} from "./bind.ts";
import { type HostConfig, type HostConfigInput, resolveHostConfig } from "./config.ts";
import { ListenerSet } from "./listeners.ts";
import { hostMethods } from "./methods.ts";
import { pluginMethods, PluginStore } from "../plugins/mod.ts";
import { RelayHub, RelayLink, TunnelTransport } from "../relay/mod.ts";
import {
  AgentInstaller,
  CapabilityInstaller,
  registryMethods,
  RegistryService,
} from "../registry/mod.ts"; // registry
import {
  AgentManager,
  agentMethods,
  AgentMobility,
  AgentStorage,
  type MobilityFaults,
  mobilityMethods,
  pluginSource,
  type ResolveHost,
  serviceMethods,
  ServiceRegistry,
} from "../agents/mod.ts";
import { claimDataDir, processStart, removeRuntimeInfo, writeRuntimeInfo } from "../client/mod.ts";
import { createHostMemory, type HostMemory, memoryMethods } from "../memory/mod.ts"; // memory
import { CapabilityHost, capabilityMethods, validateCapabilityDir } from "../capabilities/mod.ts"; // capabilities
import {
  agentCapabilityCalls,
  type CapabilityRuntime,
  jobMethods,
  JobQueue,
  Jobs,
  RemoteJobs,
  type ResourceProbe,
  systemProbe,
} from "../capabilities/mod.ts"; // jobs
import {
  AgentFiles,
  ArtifactMesh,
  artifactMethods,
  artifactRoutes,
  ArtifactStore,
} from "../artifacts/mod.ts"; // artifacts

/** Options for {@linkcode startHost} that are not configuration. */
export interface StartOptions {
  /** Lists network interfaces; tests pass a fake one to drive `--bind auto`. */
  interfaces?: InterfaceSource;
  /** Where the host's log lines go. Default: stderr. */
  log?: (line: string) => void;
  /**
   * Moving agents: how target names become URLs (default: a URL as it is, a
   * host name or id through the mesh), timings, and test-only fault points.
   */
  mobility?: {
    resolve?: ResolveHost;
    commitGraceMs?: number;
    settleRetryMs?: number;
    preflightTimeoutMs?: number;
    faults?: MobilityFaults;
  };
  /** jobs: run the job queue on another runtime or machine probe (tests use fakes). */
  jobs?: { runtime?: CapabilityRuntime; probe?: ResourceProbe };
}

/** A running host. */
export interface Host {
  /** Stable id, kept across restarts in the data dir. */
  readonly id: string;
  /** The configuration it runs with. */
  readonly config: HostConfig;
  /** The URL to reach it at (a LAN address when it has one). */
  readonly url: string;
  /** Every URL it listens on now. */
  readonly urls: string[];
  /** The port it listens on. */
  readonly port: number;
  /** The event log. */
  readonly events: EventLog;
  /** Signs and checks tokens with the mesh secret. */
  readonly tokens: TokenSigner;
  /** Resolves when the host has stopped. */
  readonly finished: Promise<void>;
  /** Check `--bind auto` addresses now instead of at the next interval. */
  rebind(): Promise<void>;
  /** Resolves once every `--relay` hub has accepted this host (at once without any). */
  relayReady(): Promise<void>;
  /** Stop: close sockets and listeners (letting calls finish), record it, close state. Idempotent. */
  stop(reason?: string): Promise<void>;
}

/**
 * Start a host: open its state, load or create the mesh secret, and serve
 * JSON-RPC on every bound address.
 *
 * @example
 * const host = await startHost({ port: 0, dataDir: "/tmp/roam-a" });
 * console.log(host.url);
 * await host.stop();
 */
export async function startHost(
  input: HostConfigInput = {},
  options: StartOptions = {},
): Promise<Host> {
  const config = resolveHostConfig(input);
  const log = options.log ?? ((line: string) => console.error(line));
  const interfaces = options.interfaces ?? systemInterfaces;
  await Deno.mkdir(config.dataDir, { recursive: true, mode: 0o700 }).catch((error) => {
    throw new RoamError(
      "unavailable",
      `cannot create the data dir ${config.dataDir}: ${error.message}`,
      {
        dataDir: config.dataDir,
      },
    );
  });
  await claimDataDir(config.dataDir);
  const secret = await loadOrCreateSecret(config.secretFile);
  if (secret.created) log(`roam: wrote a new mesh secret to ${secret.path} (mode 0600)`);
  const tokens = new TokenSigner(secret.bytes);

  const db: DatabaseSync = openStore({ path: join(config.dataDir, "roam.db") });
  const meta = new HostMeta(db);
  const id = meta.getOrSet("host_id", () => crypto.randomUUID());
  const firstStartedAt = meta.getOrSet("first_started_at", () => new Date().toISOString());
  const starts = Number(meta.get("starts") ?? "0") + 1;
  meta.set("starts", String(starts));
  const events = new EventLog(db, { retain: config.eventRetain });
  const startedAt = new Date();

  const sockets = new Set<WebSocket>();
  const listeners = new ListenerSet((request) => app.fetch(request), config.port);
  const mode = bindMode(config.bind);

  const info = () => {
    const urls = advertisedUrls();
    const bounds = events.bounds();
    return {
      id,
      name: config.name,
      version: ROAM_VERSION,
      deno: Deno.version.deno || DENO_VERSION,
      pid: Deno.pid,
      urls,
      bind: { mode, addresses: listeners.addresses, port: listeners.port },
      tags: config.tags,
      properties: config.properties,
      dataDir: config.dataDir,
      startedAt: startedAt.toISOString(),
      uptimeMs: Date.now() - startedAt.getTime(),
      firstStartedAt,
      starts,
      events: { ...bounds, retain: events.retain },
    };
  };
  const methods: MethodImpl[] = hostMethods({
    events,
    info,
    methods: () => dispatcher.methods,
    maxSubscriptions: config.limits.wsMaxSubscriptions,
  });
  // artifacts: blobs by sha256 in DATA_DIR/artifacts, located, fetched and replicated across
  // the mesh; agents' files are pinned blobs that travel with them.
  const artifactStore = new ArtifactStore({
    db,
    dataDir: config.dataDir,
    config: config.artifacts,
    onEvent: (type, data, subject) => events.append(type, data, subject),
    log,
  });
  try {
    await artifactStore.init();
  } catch (error) {
    db.close();
    throw error;
  }
  const artifactMesh = new ArtifactMesh({
    store: artifactStore,
    self: { id, name: config.name, url: () => currentUrls()[0] },
    peers: () => mesh.hosts(),
    resolve: (to) => hostAddress(mesh, to),
    token: () => tokens.mint({ subject: `host:${id}`, ttlMs: 10 * 60_000 }),
    onEvent: (type, data, subject) => events.append(type, data, subject),
  });
  methods.push(...artifactMethods(artifactStore, artifactMesh));
  const agentFiles = new AgentFiles(artifactStore, artifactMesh);
  const stopReleasing = events.listen((event) => {
    if (event.type === "agent.disposed" && event.subject) agentFiles.release(event.subject);
  });
  // plugins: installed agent plugins (DATA_DIR/plugins) and the operator's grants.
  const plugins = new PluginStore({ db, dataDir: config.dataDir, events });
  methods.push(...pluginMethods(plugins));
  // registry: installs from plugin registry indexes, agents into the store above,
  // capabilities into DATA_DIR/capabilities/NAME.
  const registry = new RegistryService({
    db,
    dataDir: config.dataDir,
    events,
    config: {
      ...config.registry,
      url: config.registry.url ?? (Deno.env.get("ROAM_REGISTRY") || undefined),
    },
    installers: {
      agent: new AgentInstaller(plugins),
      capability: new CapabilityInstaller({
        dataDir: config.dataDir,
        log,
        // The capability runtime's own check of plugin.json and the entry file.
        validate: async (dir) => void await validateCapabilityDir(dir),
        // A new version (or none): running workers of the old one stop; the next call starts the new.
        installed: async (name) =>
          void await capabilities.stop(name, "a new version was installed"),
        removed: async (name) => void await capabilities.stop(name, "it was removed"),
      }),
    },
  });
  methods.push(...registryMethods(registry));
  // memory: entries in pools (local over the blob store, peers, S3), manifests, config snapshots.
  let hostMemory: HostMemory;
  try {
    hostMemory = await createHostMemory({
      db,
      dataDir: config.dataDir,
      config: config.memory,
      blobs: artifactStore, // artifacts: the local pool keeps its records in the ArtifactStore
      token: () => tokens.mint({ subject: `host:${id}`, ttlMs: 120_000 }),
    });
  } catch (error) {
    db.close();
    throw error;
  }
  methods.push(...memoryMethods(hostMemory, {
    hostName: config.name,
    // The plugins travel with their code, so that a host rebuilt elsewhere installs them again.
    snapshot: async () => {
      const installed = plugins.list();
      const bundles: Record<string, string> = {};
      for (const p of installed) bundles[p.sha256] = await plugins.readCode(p);
      return {
        config,
        plugins: installed.map((p) => ({
          name: p.name,
          version: p.version,
          sha256: p.sha256,
          manifest: JSON.parse(JSON.stringify(p.manifest)),
          grants: JSON.parse(JSON.stringify(plugins.grantsFor(p.name))),
        })),
        bundles,
      };
    },
  }));
  // services: what agents advertise, resident services, and agents' plugin storage.
  const services = new ServiceRegistry({
    db,
    events,
    plugins: pluginSource(plugins, config.dataDir),
    agents: (): AgentManager => agents,
    storage: new AgentStorage({ dataDir: config.dataDir }),
    log,
  });
  methods.push(...serviceMethods(services));
  // agents: each in a permission-scoped worker inside a runner process with a heap budget.
  const agents = new AgentManager({
    db,
    events,
    services,
    plugins: pluginSource(plugins, config.dataDir),
    dataDir: config.dataDir,
    host: { id, name: config.name },
    log,
    warmRunner: config.agents.warmRunner,
    defaultMemoryMb: config.agents.memoryMb,
    messageTimeoutMs: config.agents.messageTimeoutMs,
    mailboxCapacity: config.agents.mailboxCapacity,
    travel: (): AgentMobility => mobility,
    hostUrl: () => currentUrls()[0],
    capabilities: () => agentCapabilityCalls(jobs), // jobs: ctx.capability(name).call(...)
    files: agentFiles, // artifacts: ctx.files, kept in the ArtifactStore, travel with the agent
  });
  // mobility: agents moving to and from the other hosts of the mesh, exactly once.
  const mobility: AgentMobility = new AgentMobility({
    db,
    events,
    agents,
    plugins,
    tokens,
    self: { id, name: config.name, url: () => currentUrls()[0] },
    log,
    files: {
      list: (agentId) => agentFiles.list(agentId),
      receive: (files, source) => agentFiles.receive(files, source),
      hold: (files, agentId) => agentFiles.hold(files, agentId),
      release: (agentId) => agentFiles.release(agentId),
    }, // artifacts
    ...options.mobility,
    // A target that is not a URL is a host name or id, looked up in the mesh.
    resolve: options.mobility?.resolve ?? ((to) => hostAddress(mesh, to)),
    place: (placement, { excludeSelf }) =>
      placeAgent(mesh.hosts(), placement, {
        exclude: excludeSelf ? { [id]: "is where the agent is" } : {},
      }),
  });
  methods.push(...agentMethods(agents, mobility), ...mobilityMethods(mobility));
  // relay: with --relay, this host is reached through its hubs, served by its own app.
  const relayLinks = config.relay.map((hub) =>
    new RelayLink({
      hub,
      self: { id, name: config.name },
      token: () => tokens.mint({ subject: `host:${id}`, ttlMs: 24 * 3600_000 }),
      handle: (request) => app.fetch(request),
      local: () => localUrl(),
      log,
    })
  );
  const advertisedUrls = () => [...relayLinks.map((link) => link.url), ...currentUrls()];
  // mesh: the other hosts, found by multicast and unicast gossip, watched in the manner of SWIM.
  // Behind a relay, gossip goes through the first hub (a tunnel) and the host joins through it.
  const tunnel = relayLinks[0];
  const mesh = new Mesh({
    config: tunnel
      ? { ...config.mesh, peers: [...config.mesh.peers, ...config.relay] }
      : config.mesh,
    transport: tunnel ? (options) => new TunnelTransport(tunnel, options) : undefined,
    identity: {
      id,
      name: config.name,
      version: ROAM_VERSION,
      tags: config.tags,
      properties: config.properties,
      epoch: starts,
    },
    // Behind a relay the relay URL comes first: the others reach this host there.
    urls: () => (tunnel ? advertisedUrls() : currentUrls()),
    bindHost: mode === "loopback" ? "127.0.0.1" : "0.0.0.0",
    httpPort: () => listeners.port,
    secret: secret.bytes,
    readSecret: async () => (await readSecret(secret.path)).bytes,
    token: () => tokens.mint({ subject: `host:${id}`, ttlMs: 120_000 }),
    events,
    log,
  });
  methods.push(...meshMethods(mesh));
  // capabilities: installed capability plugins, their environments and supervised worker processes.
  const capabilities = new CapabilityHost({
    dataDir: config.dataDir,
    db,
    events,
    log,
    envStallMs: config.capabilities.envStallMs,
    timings: config.capabilities.timings,
    diagnostics: config.capabilities.diagnostics,
    maxInstances: config.capabilities.maxInstances,
  });
  methods.push(...capabilityMethods(capabilities));
  // jobs: capability calls queued by priority, admitted by RAM and VRAM, journaled; forwarded across the mesh.
  const jobQueue = new JobQueue({
    db,
    events,
    log,
    runtime: options.jobs?.runtime ?? capabilities,
    probe: options.jobs?.probe ?? systemProbe(),
    limits: config.jobs,
  });
  const jobs = new Jobs(
    jobQueue,
    new RemoteJobs({
      selfId: id,
      hosts: () => mesh.hosts(),
      resolve: (to) => hostAddress(mesh, to),
      token: () => tokens.mint({ subject: `host:${id}`, ttlMs: 120_000 }),
    }),
  );
  methods.push(...jobMethods(jobs));
  jobQueue.start();
  const dispatcher = new Dispatcher({
    methods,
    maxBatch: config.limits.maxBatch,
    defaultTimeoutMs: config.limits.callTimeoutMs,
    onInternalError: (error, reference) =>
      log(`roam: internal error ${reference}: ${(error as Error)?.stack ?? String(error)}`),
  });

  const authenticate = (token: string | null): AuthResult => {
    try {
      const claims = tokens.verify(token);
      return { ok: true, subject: claims.sub, expiresAt: claims.exp };
    } catch (error) {
      if (error instanceof RoamError) return { ok: false, error };
      throw error;
    }
  };
  // relay: this host as a hub for hosts that cannot accept connections (/relay/...).
  const relayHub = new RelayHub({
    authenticate,
    config: config.relayHub,
    maxBodyBytes: config.limits.maxRequestBytes,
    baseUrl: () => currentUrls()[0],
    log,
    events,
    // Hosts connected here get a gossip port, so they are live mesh members (not when
    // this host is itself behind a relay: others could not reach those ports).
    gossip: config.mesh.enabled && !tunnel
      ? {
        bindHost: mode === "loopback" ? "127.0.0.1" : "0.0.0.0",
        group: config.mesh.multicast && mode !== "loopback"
          ? { hostname: config.mesh.group.address, port: config.mesh.group.port }
          : undefined,
      }
      : undefined,
  });
  const app = createApp({
    artifacts: artifactRoutes(artifactStore, authenticate), // artifacts
    relay: {
      connect: (request) => relayHub.connect(request),
      forward: (hostId, request) => relayHub.forward(hostId, request),
    },
    rpc: createHttpRpcHandler({
      dispatcher,
      authenticate,
      limits: { maxBytes: config.limits.maxRequestBytes, timeoutMs: config.limits.bodyTimeoutMs },
    }),
    ws: (request) => {
      if (sockets.size >= config.limits.maxSockets) {
        return Response.json({
          jsonrpc: "2.0",
          id: null,
          error: {
            code: -32012,
            message: `more than ${config.limits.maxSockets} WebSockets open; try again later`,
          },
        }, { status: 503 });
      }
      return wsHandler(request);
    },
  });
  const wsHandler = createWsRpcHandler({
    dispatcher,
    authenticate,
    maxMessageBytes: config.limits.wsMaxMessageBytes,
    maxInFlight: config.limits.wsMaxInFlight,
    maxBufferedBytes: config.limits.wsMaxBufferedBytes,
    track: (socket) => {
      sockets.add(socket);
      return () => sockets.delete(socket);
    },
  });

  const currentUrls = () => listeners.addresses.map((a) => urlFor(a, listeners.port));
  const publishRuntime = () =>
    writeRuntimeInfo(config.dataDir, {
      pid: Deno.pid,
      name: config.name,
      url: localUrl(),
      urls: currentUrls(),
      version: ROAM_VERSION,
      startedAt: startedAt.toISOString(),
      secretFile: secret.path,
      pidStart: Deno.build.os === "linux" ? processStart(Deno.pid) : undefined,
    });
  // Local tools prefer loopback when the host listens there.
  const localUrl = () => {
    const loop = listeners.addresses.find((a) => a.startsWith("127."));
    return urlFor(loop ?? listeners.addresses[0], listeners.port);
  };

  try {
    await listeners.sync(resolveAddresses(config.bind, interfaces), true);
  } catch (error) {
    await hostMemory.close(); // memory
    await jobQueue.close(); // jobs
    await capabilities.close(); // capabilities
    stopReleasing(); // artifacts
    db.close();
    throw error;
  }
  await publishRuntime();
  events.append("host.started", {
    name: config.name,
    version: ROAM_VERSION,
    urls: currentUrls(),
    starts,
    tags: config.tags,
  }, id);
  try {
    for (const link of relayLinks) link.start(); // relay: first, so that gossip can tunnel soon
    await mesh.start(); // mesh
    await agents.start();
    mobility.start();
    artifactStore.start(); // artifacts
  } catch (error) {
    await artifactStore.stop(); // artifacts
    stopReleasing(); // artifacts
    await mesh.stop(); // mesh
    await Promise.all(relayLinks.map((link) => link.stop()));
    await jobQueue.close(); // jobs
    await capabilities.close(); // capabilities
    services.close();
    await listeners.close(0);
    await removeRuntimeInfo(config.dataDir);
    await hostMemory.close(); // memory
    db.close();
    throw error;
  }
  log(
    `roam: host "${config.name}" listening on ${
      currentUrls().join(", ")
    } (data in ${config.dataDir})`,
  );

  let rebinding: Promise<void> = Promise.resolve();
  const rebind = () =>
    rebinding = rebinding.then(async () => {
      if (stopping) return;
      let wanted: string[];
      try {
        wanted = resolveAddresses(config.bind, interfaces);
      } catch (error) {
        log(`roam: ${(error as Error).message}`);
        return;
      }
      const change = await listeners.sync(wanted, false);
      for (const f of change.failed) {
        log(`roam: cannot listen on ${f.address}: ${f.message}; retrying`);
      }
      if (change.added.length || change.removed.length) {
        await publishRuntime();
        events.append("host.bind_changed", {
          added: change.added,
          removed: change.removed,
          urls: currentUrls(),
        }, id);
        mesh.addressesChanged(); // mesh: a new incarnation states the new URLs
        log(`roam: addresses changed; now listening on ${currentUrls().join(", ")}`);
      }
    });
  const watcher = mode === "auto"
    ? setInterval(() => void rebind(), config.rebindIntervalMs)
    : undefined;

  let stopping: Promise<void> | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  const stop = (reason = "stopped") =>
    stopping ??= (async () => {
      clearInterval(watcher);
      await rebinding;
      await mesh.stop(); // mesh: tell the others this host is leaving
      await Promise.all(relayLinks.map((link) => link.stop()));
      await relayHub.close();
      events.append("host.stopped", { reason }, id);
      for (const socket of sockets) socket.close(1001, "host shutting down");
      await jobQueue.close(); // jobs: running calls cancelled (their callers told), queued jobs kept
      const draining = await listeners.close(config.shutdownGraceMs);
      if (draining) {
        log(
          `roam: connections still open after ${config.shutdownGraceMs} ms; stopping without them`,
        );
      }
      services.close();
      mobility.stop();
      await agents.stop();
      await capabilities.close(); // capabilities: every worker group stopped
      await artifactStore.stop(); // artifacts
      stopReleasing(); // artifacts
      await removeRuntimeInfo(config.dataDir);
      await hostMemory.close(); // memory
      db.close();
      log(`roam: host "${config.name}" stopped (${reason})`);
      finish();
    })();

  return {
    id,
    config,
    get url() {
      return currentUrls()[0];
    },
    get urls() {
      return currentUrls();
    },
    get port() {
      return listeners.port;
    },
    events,
    tokens,
    finished,
    rebind,
    relayReady: async () => {
      await Promise.all(relayLinks.map((link) => link.ready()));
    },
    stop,
  };
}
