/**
 * The mesh benches (issue 4, point 9): an agent's hop from one host to
 * another with 0 B, 64 KiB and 8 MiB of state; clone fan-out to every host;
 * discovery of a new host; gossip bytes per second per host with 5 and 50
 * members. Hosts are real `roam host`s on loopback (subprocesses sharing one
 * secret, joined through `--peer`: loopback hosts send no multicast); the
 * gossip figure comes from real meshes in this process on an in-memory
 * datagram switch, with real packets, sealing and SWIM timers.
 *
 * @module
 */
import { join } from "node:path";
import { loadOrCreateSecret, TokenSigner } from "../../src/security/mod.ts";
import { packPlugin } from "../../src/plugins/mod.ts";
import { startHost } from "../../src/host/mod.ts";
import {
  encodePacket,
  type Endpoint,
  type GossipTransport,
  Mesh,
  MeshConfigSchema,
  MeshKeyring,
  ResourceMonitor,
  type TransportOptions,
} from "../../src/mesh/mod.ts";
import { sameHostUrl } from "../../src/rpc/mod.ts";
import { type Rpc, rpcClient } from "./agent_host.ts";
import type { BenchContext, BenchDefinition, Measurement } from "./definitions.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const FIXTURE = new URL("./fixtures/bench-agent", import.meta.url).pathname;
/** Hosts in the fan-out cluster: the source and three targets. */
const FANOUT_HOSTS = 4;

/** The state sizes of the hop benches. */
const HOP_SIZES: readonly { label: string; bytes: number }[] = [
  { label: "0B", bytes: 0 },
  { label: "64KiB", bytes: 64 * KiB },
  { label: "8MiB", bytes: 8 * MiB },
];

/** Hosts on loopback sharing one secret, each knowing the others. */
interface Cluster {
  readonly urls: string[];
  readonly rpc: Rpc[];
  readonly secretFile: string;
  readonly token: string;
  /** The bench agent's plugin (inline: a worker in the host, like the floor's). */
  readonly plugin: string;
}

const clusters = new WeakMap<BenchContext, Map<number, Promise<Cluster>>>();

/** The run's cluster of `n` hosts, started on first use. */
function cluster(context: BenchContext, n: number): Promise<Cluster> {
  let byContext = clusters.get(context);
  if (!byContext) clusters.set(context, byContext = new Map());
  let found = byContext.get(n);
  if (!found) byContext.set(n, found = startCluster(context, n));
  return found;
}

async function startCluster(context: BenchContext, n: number): Promise<Cluster> {
  const dir = await context.makeTempDir(`roam-bench-mesh${n}-`);
  const secretFile = join(dir, "secret");
  const secret = await loadOrCreateSecret(secretFile);
  const token = new TokenSigner(secret.bytes).mint({ ttlMs: 3_600_000, subject: "bench" });
  const urls: string[] = [];
  for (let i = 0; i < n; i++) {
    const server = await context.startServer("host_server.ts", [
      "--data-dir",
      join(dir, `h${i}`),
      "--remove-data-dir",
      "--secret-file",
      secretFile,
      "--name",
      `m${n}-${i}`,
      ...(i > 0 ? ["--peer", urls[0]] : []),
    ]);
    urls.push(server.url);
  }
  const rpc = urls.map((url) => rpcClient(context, `${url}/rpc`, token));
  for (const call of rpc) {
    for (let i = 0; i < n; i++) await call("mesh.wait", { host: `m${n}-${i}`, timeoutMs: 15_000 });
  }
  const packed = await packPlugin(FIXTURE, { outDir: join(dir, "pack") });
  const plugin = `${packed.manifest.name}-inline`;
  // Installed on the first host only: the code moves with the agent.
  await rpc[0]("plugin.add", {
    manifest: { ...packed.manifest, name: plugin, isolation: "inline" },
    code: await Deno.readTextFile(packed.bundlePath),
  });
  return { urls, rpc, secretFile, token, plugin };
}

/** A JSON body of about `bytes` bytes, as the hop's floor posts it. */
function paddedBody(bytes: number): string {
  const shell = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "echo", params: { pad: "" } });
  return JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "echo",
    params: { pad: "x".repeat(Math.max(0, bytes - shell.length)) },
  });
}

function hopLimit(bytes: number) {
  return bytes >= MiB
    ? { calls: 20, warmup: 2, quickCalls: 5, quickWarmup: 1 }
    : { calls: 60, warmup: 5, quickCalls: 15, quickWarmup: 3 };
}

/** Floor of a hop: POST the same bytes to a bare Deno.serve. */
function postMeasurement(size: { label: string; bytes: number }): Measurement {
  return {
    name: `http.post/${size.label}`,
    summary: `bare Deno.serve: POST a ${size.label} JSON body, small JSON reply`,
    limit: hopLimit(size.bytes),
    setup: async (context) => {
      const { url } = await context.startServer("bare_server.ts");
      const client = Deno.createHttpClient({});
      context.defer(() => client.close());
      const body = paddedBody(size.bytes);
      const headers = { "content-type": "application/json" };
      return async () => {
        const response = await fetch(`${url}/rpc`, { method: "POST", headers, body, client });
        const reply = await response.json();
        if (reply?.result?.ok !== true) throw new Error(`bare server answered ${response.status}`);
      };
    },
  };
}

/** One hop of an agent carrying `size` of state, back and forth between two hosts. */
function hopMeasurement(size: { label: string; bytes: number }): Measurement {
  return {
    name: `mesh.hop/${size.label}`,
    summary: `roam hosts on loopback: agent.dispatch of an agent with ${size.label} of state ` +
      `to the other host, until it runs there (inline isolation)`,
    limit: hopLimit(size.bytes),
    setup: async (context) => {
      const c = await cluster(context, 2);
      const state = size.bytes ? { pad: "x".repeat(size.bytes - 12) } : undefined;
      const { id } = await c.rpc[0]("agent.create", { plugin: c.plugin, state }) as { id: string };
      let at = 0;
      return async () => {
        const to = 1 - at;
        const moved = await c.rpc[at]("agent.dispatch", { id, to: c.urls[to] }) as {
          location?: string;
        };
        if (!moved.location || !sameHostUrl(moved.location, c.urls[to])) {
          throw new Error(`dispatch answered ${JSON.stringify(moved).slice(0, 300)}`);
        }
        at = to;
      };
    },
  };
}

/** The mesh measurements. */
export const MESH_MEASUREMENTS: readonly Measurement[] = [
  ...HOP_SIZES.map(postMeasurement),
  ...HOP_SIZES.map(hopMeasurement),
  {
    name: `mesh.clone-fanout/${FANOUT_HOSTS}`,
    summary: `roam hosts on loopback: agent.clone to each of the ${
      FANOUT_HOSTS - 1
    } other hosts at once, until every clone runs`,
    limit: { calls: 30, warmup: 3, quickCalls: 8, quickWarmup: 2 },
    setup: async (context) => {
      const c = await cluster(context, FANOUT_HOSTS);
      const { id } = await c.rpc[0]("agent.create", { plugin: c.plugin }) as { id: string };
      return async () => {
        const start = performance.now();
        const clones = await Promise.all(
          c.urls.slice(1).map((to) =>
            c.rpc[0]("agent.clone", { id, to }) as Promise<{ id: string }>
          ),
        );
        const ms = performance.now() - start;
        await Promise.all(
          clones.map((clone, i) => c.rpc[i + 1]("agent.dispose", { id: clone.id })),
        );
        return ms;
      };
    },
  },
  {
    name: "mesh.discovery",
    summary: "a new roam host with --peer on loopback: from startHost until an existing host " +
      "lists it alive (mesh.wait), its start included",
    limit: { calls: 12, warmup: 1, quickCalls: 4, quickWarmup: 1 },
    setup: async (context) => {
      const c = await cluster(context, 2);
      const dir = await context.makeTempDir("roam-bench-discovery-");
      let n = 0;
      return async () => {
        const name = `late-${++n}`;
        const start = performance.now();
        const seen = c.rpc[0]("mesh.wait", { host: name, timeoutMs: 15_000 });
        const host = await startHost({
          port: 0,
          name,
          dataDir: join(dir, name),
          secretFile: c.secretFile,
          mesh: { peers: [c.urls[0]] },
        }, { log: () => {} });
        try {
          await seen;
          return performance.now() - start;
        } finally {
          await host.stop();
        }
      };
    },
  },
  {
    name: "mesh.gossip-floor",
    summary: "SWIM's least traffic: a ping and an ack (smallest sealed packets) per host per " +
      "probe interval",
    unit: "B/s",
    limit: { calls: 3, warmup: 0, quickCalls: 1, quickWarmup: 0 },
    setup: () => {
      const config = MeshConfigSchema.parse({});
      const keys = new MeshKeyring(crypto.getRandomValues(new Uint8Array(32)));
      const packet = encodePacket(keys.current, {
        k: "ping",
        f: {
          i: crypto.randomUUID(),
          n: "host-00",
          u: "http://192.168.1.100:7420",
          g: 7420,
          e: 1,
          c: 0,
          s: "a",
        },
        q: 1,
        t: Date.now(),
        p: 1,
        m: { l: [0.5, 0.5, 0.5], f: 16000, t: 32000, g: [] },
      });
      return Promise.resolve(() =>
        Promise.resolve(2 * packet.byteLength * 1000 / config.probeIntervalMs)
      );
    },
  },
  ...[5, 50].map((members): Measurement => ({
    name: `mesh.gossip/${members}`,
    summary: `${members} meshes with default timings on an in-memory switch: bytes sent per ` +
      `second per host once converged, over a window`,
    unit: "B/s",
    limit: { calls: 3, warmup: 0, quickCalls: 1, quickWarmup: 0 },
    setup: async (context) => {
      const meshes = await memoryMeshes(context, members);
      const sent = () => meshes.reduce((sum, m) => sum + m.stats().packets.bytesOut, 0);
      return async () => {
        const windowMs = 3_000;
        const before = sent();
        const start = performance.now();
        await new Promise((resolve) => setTimeout(resolve, windowMs));
        const seconds = (performance.now() - start) / 1000;
        const suspected = meshes.reduce((sum, m) => sum + m.stats().probes.suspected, 0);
        if (suspected > 0) {
          console.error(
            `bench: mesh.gossip/${members}: ${suspected} suspicions so far (a busy machine delays acks)`,
          );
        }
        return (sent() - before) / members / seconds;
      };
    },
  })),
];

/** The mesh benches; none has a goal in the issue, so ratios are reported. */
export const MESH_BENCHES: readonly BenchDefinition[] = [
  ...HOP_SIZES.map((size): BenchDefinition => ({
    name: `hop A -> B, ${size.label} of state`,
    subject: `mesh.hop/${size.label}`,
    floor: [`http.post/${size.label}`, "worker.spawn"],
  })),
  {
    name: `clone fan-out to ${FANOUT_HOSTS - 1} hosts`,
    subject: `mesh.clone-fanout/${FANOUT_HOSTS}`,
    floor: ["http.post/0B", "worker.spawn"],
  },
  { name: "discovery of a new host", subject: "mesh.discovery", floor: "deno.serve/http" },
  {
    name: "gossip bytes/s per host, 5 members",
    subject: "mesh.gossip/5",
    floor: "mesh.gossip-floor",
  },
  {
    name: "gossip bytes/s per host, 50 members",
    subject: "mesh.gossip/50",
    floor: "mesh.gossip-floor",
  },
];

/** An in-memory datagram switch: every mesh gets a port; multicast reaches every other. */
class MemorySwitch {
  readonly #ports = new Map<number, (packet: Uint8Array, from: Endpoint) => void>();
  #next = 20_000;

  transport(options: TransportOptions): GossipTransport {
    const port = this.#next++;
    const self: Endpoint = { hostname: "127.0.0.1", port };
    const deliver = (packet: Uint8Array, to: number) => {
      const receive = this.#ports.get(to);
      if (!receive) return false;
      // Delivered on a later turn, like a datagram.
      queueMicrotask(() => receive(packet.slice(), self));
      return true;
    };
    return {
      open: () => {
        this.#ports.set(port, (packet, from) => options.onPacket(packet, from, "unicast"));
        return self;
      },
      multicastInterfaces: ["memory"],
      setMulticastInterfaces: () => Promise.resolve(),
      send: (packet, to) => Promise.resolve(deliver(packet, to.port)),
      sendMulticast: (packet) => {
        for (const other of this.#ports.keys()) if (other !== port) deliver(packet, other);
        return Promise.resolve(true);
      },
      close: () => {
        this.#ports.delete(port);
        return Promise.resolve();
      },
    };
  }
}

/** `n` meshes with default timings, converged (each knows every other alive). */
async function memoryMeshes(context: BenchContext, n: number): Promise<Mesh[]> {
  const network = new MemorySwitch();
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const config = MeshConfigSchema.parse({ maxClockSkewMs: 30_000 });
  const meshes: Mesh[] = [];
  for (let i = 0; i < n; i++) {
    const mesh = new Mesh({
      config,
      identity: {
        id: crypto.randomUUID(),
        name: `mem-${i}`,
        version: "bench",
        tags: [],
        properties: {},
        epoch: 1,
      },
      // Nothing listens there: record fetches are refused at once, and cost no gossip bytes.
      urls: () => [`http://127.0.0.1:9`],
      bindHost: "127.0.0.1",
      httpPort: () => 9,
      secret,
      token: () => "bench",
      resources: new ResourceMonitor({ query: () => Promise.resolve(null) }),
      transport: (options) => network.transport(options),
      log: () => {},
    });
    meshes.push(mesh);
  }
  context.defer(async () => {
    await Promise.all(meshes.map((m) => m.stop()));
  });
  await Promise.all(meshes.map((m) => m.start()));
  const deadline = Date.now() + 30_000;
  while (meshes.some((m) => m.hosts("alive").length < n)) {
    if (Date.now() > deadline) throw new Error(`${n} in-memory meshes did not converge in 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Let the news of every join finish spreading: the figure is the steady state.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  return meshes;
}
