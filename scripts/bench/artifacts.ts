/**
 * The ArtifactStore's benches (issue 5, point 8): a large file uploaded to
 * and downloaded from a roam host over loopback, against `cat FILE >
 * /dev/null` and a bare Deno HTTP transfer of the same file (goal: at least
 * 0.7 of their throughput, a time ratio of at most 1.43); sha256 of the file
 * with node:crypto streaming against `sha256sum` (goal: at least 0.9, a
 * ratio of at most 1.11); and the host's resident memory while it receives
 * the file against while it receives one an eighth of the size (flat: a
 * ratio near 1).
 *
 * The file is 1 GiB; `ROAM_BENCH_ARTIFACT_MB` sets another size, and
 * `--quick` uses 128 MiB unless that is set. It lives in a temporary
 * directory removed when the run ends, as are the host's blobs.
 *
 * ```sh
 * deno task bench --filter artifact
 * ROAM_BENCH_ARTIFACT_MB=256 deno task bench --filter artifact --quick
 * ```
 *
 * @module
 */
import { readSecret, TokenSigner } from "../../src/security/mod.ts";
import { putStream } from "../../src/artifacts/http_put.ts";
import { sha256File } from "../../src/artifacts/hash_file.ts";
import type { BenchContext, BenchDefinition, Measurement } from "./definitions.ts";

const MiB = 1024 * 1024;
const SLOW = { calls: 3, warmup: 1, quickCalls: 2, quickWarmup: 0 };

/** The size of the file the transfers move, in bytes. */
export function artifactBenchBytes(): number {
  const env = Number(Deno.env.get("ROAM_BENCH_ARTIFACT_MB"));
  if (Number.isFinite(env) && env > 0) return Math.round(env * MiB);
  return (Deno.args.includes("--quick") ? 128 : 1024) * MiB;
}

type Fixture = { file: string; small: string; size: number; dir: string };
type RoamHost = { url: string; pid: number; token: string };

const fixtures = new WeakMap<BenchContext, Promise<Fixture>>();
const hosts = new WeakMap<BenchContext, Map<string, Promise<RoamHost>>>();
const bares = new WeakMap<BenchContext, Promise<string>>();

/** The file to move (and one an eighth of its size), written once per run. */
function fixture(context: BenchContext): Promise<Fixture> {
  let made = fixtures.get(context);
  if (!made) {
    made = (async () => {
      const dir = await context.makeTempDir("roam-bench-artifacts-");
      const size = artifactBenchBytes();
      const block = new Uint8Array(MiB);
      const write = async (path: string, bytes: number) => {
        const file = await Deno.open(path, { write: true, create: true, truncate: true });
        try {
          for (let done = 0; done < bytes; done += MiB) {
            crypto.getRandomValues(block.subarray(0, 65536));
            block.copyWithin(65536, 0, MiB - 65536);
            let offset = 0;
            const chunk = block.subarray(0, Math.min(MiB, bytes - done));
            while (offset < chunk.byteLength) offset += await file.write(chunk.subarray(offset));
          }
        } finally {
          file.close();
        }
      };
      const file = `${dir}/file.bin`;
      const small = `${dir}/small.bin`;
      await write(file, size);
      await write(small, Math.max(MiB, Math.floor(size / 8)));
      return { file, small, size, dir };
    })();
    fixtures.set(context, made);
  }
  return made;
}

/**
 * A roam host of the run: `upload` for uploads (each removes its blob
 * after), `download` for downloads (its blob stays).
 */
function roamHost(context: BenchContext, role: "upload" | "download"): Promise<RoamHost> {
  let byRole = hosts.get(context);
  if (!byRole) hosts.set(context, byRole = new Map());
  let started = byRole.get(role);
  if (!started) {
    started = (async () => {
      const dataDir = await context.makeTempDir("roam-bench-artifact-host-");
      const { url, pid } = await context.startServer("host_server.ts", [
        "--data-dir",
        dataDir,
        "--remove-data-dir",
      ]);
      const secret = await readSecret(`${dataDir}/secret`);
      const token = new TokenSigner(secret.bytes).mint({ subject: "bench", ttlMs: 24 * 3600_000 });
      return { url, pid, token };
    })();
    byRole.set(role, started);
  }
  return started;
}

function bareServer(context: BenchContext): Promise<string> {
  let started = bares.get(context);
  if (!started) {
    started = (async () => {
      const dir = await context.makeTempDir("roam-bench-artifact-bare-");
      return (await context.startServer("artifact_bare_server.ts", [dir])).url;
    })();
    bares.set(context, started);
  }
  return started;
}

async function run(command: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${command} failed: ${new TextDecoder().decode(out.stderr).slice(-300)}`);
  }
}

async function put(url: string, path: string, token?: string): Promise<{ sha256?: string }> {
  const file = await Deno.open(path, { read: true });
  const headers: Record<string, string> = { "content-length": String((await file.stat()).size) };
  if (token) headers.authorization = `Bearer ${token}`;
  // node:http for both the floor and the subject: Deno's fetch streams request bodies slowly.
  const { status, text } = await putStream(url, headers, file.readable);
  if (status >= 300) throw new Error(`PUT ${url}: ${status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

async function drain(url: string, size: number, token?: string): Promise<void> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { headers });
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
  let got = 0;
  for await (const chunk of response.body!) got += chunk.byteLength;
  if (got !== size) throw new Error(`GET ${url}: ${got} bytes, not ${size}`);
}

async function rpc(host: RoamHost, method: string, params: unknown): Promise<unknown> {
  const response = await fetch(`${host.url}/rpc`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await response.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

/** The resident memory of one process, in bytes. */
async function rssBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/^VmRSS:\s+(\d+) kB/m)?.[1] ?? 0) * 1024;
}

/** Upload `path` to the host, sampling its resident memory; the peak in MiB. */
async function uploadRss(context: BenchContext, which: "file" | "small"): Promise<number> {
  const host = await roamHost(context, "upload");
  const f = await fixture(context);
  let peak = await rssBytes(host.pid);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rssBytes(host.pid));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const { sha256 } = await put(`${host.url}/artifacts`, f[which], host.token);
  sampling = false;
  await sampler;
  await rpc(host, "artifact.remove", { sha256, force: true });
  return peak / MiB;
}

/** The artifact measurements. */
export const ARTIFACT_MEASUREMENTS: readonly Measurement[] = [
  {
    name: "artifact.cat",
    summary: "cat FILE > /dev/null (the disk and page cache read floor)",
    limit: SLOW,
    setup: async (context) => {
      const { file } = await fixture(context);
      return () => run("sh", ["-c", `cat '${file}' > /dev/null`]);
    },
  },
  {
    name: "artifact.bare-upload",
    summary: "bare Deno.serve: PUT the file, written to disk and synced",
    limit: SLOW,
    setup: async (context) => {
      const { file } = await fixture(context);
      const url = await bareServer(context);
      return async () => {
        await put(`${url}/upload`, file);
      };
    },
  },
  {
    name: "artifact.bare-download",
    summary: "bare Deno.serve: GET the file (Deno.FsFile.readable)",
    limit: SLOW,
    setup: async (context) => {
      const { file, size } = await fixture(context);
      const url = await bareServer(context);
      return () => drain(`${url}/file?path=${encodeURIComponent(file)}`, size);
    },
  },
  {
    name: "artifact.upload",
    summary: "roam host: PUT /artifacts of the file (hashed, synced, renamed, recorded)",
    limit: SLOW,
    setup: async (context) => {
      const { file } = await fixture(context);
      const host = await roamHost(context, "upload");
      return async () => {
        const start = performance.now();
        const { sha256 } = await put(`${host.url}/artifacts`, file, host.token);
        const ms = performance.now() - start;
        await rpc(host, "artifact.remove", { sha256, force: true });
        return ms;
      };
    },
  },
  {
    name: "artifact.download",
    summary: "roam host: GET /artifacts/SHA256 of the file",
    limit: SLOW,
    setup: async (context) => {
      const { file, size } = await fixture(context);
      const host = await roamHost(context, "download");
      const { sha256 } = await put(`${host.url}/artifacts`, file, host.token);
      await rpc(host, "artifact.pin", { sha256, holder: "user:bench" });
      return () => drain(`${host.url}/artifacts/${sha256}`, size, host.token);
    },
  },
  {
    name: "artifact.sha256sum",
    summary: "sha256sum FILE",
    limit: SLOW,
    setup: async (context) => {
      const { file } = await fixture(context);
      return () => run("sha256sum", [file]);
    },
  },
  {
    name: "artifact.hash",
    summary: "roam's sha256File: node:crypto sha256 fed by 4 MiB reads",
    limit: SLOW,
    setup: async (context) => {
      const { file } = await fixture(context);
      return async () => void await sha256File(file);
    },
  },
  {
    name: "artifact.rss-small",
    summary: "roam host: peak resident memory while it receives a file 1/8 the size",
    unit: "MiB",
    limit: SLOW,
    setup: (context) => Promise.resolve(() => uploadRss(context, "small")),
  },
  {
    name: "artifact.rss-large",
    summary: "roam host: peak resident memory while it receives the file",
    unit: "MiB",
    limit: SLOW,
    setup: (context) => Promise.resolve(() => uploadRss(context, "file")),
  },
];

/** The artifact benches: transfer throughput, hashing, and flat memory. */
export const ARTIFACT_BENCHES: readonly BenchDefinition[] = [
  {
    name: "artifact upload vs bare HTTP upload",
    subject: "artifact.upload",
    floor: "artifact.bare-upload",
    goal: 1 / 0.7,
  },
  {
    name: "artifact upload vs cat",
    subject: "artifact.upload",
    floor: "artifact.cat",
    goal: 1 / 0.7,
  },
  {
    name: "artifact download vs bare HTTP download",
    subject: "artifact.download",
    floor: "artifact.bare-download",
    goal: 1 / 0.7,
  },
  {
    name: "artifact download vs cat",
    subject: "artifact.download",
    floor: "artifact.cat",
    goal: 1 / 0.7,
  },
  {
    name: "artifact hashing vs sha256sum",
    subject: "artifact.hash",
    floor: "artifact.sha256sum",
    goal: 1 / 0.9,
  },
  {
    name: "artifact host memory, 8x the file",
    subject: "artifact.rss-large",
    floor: "artifact.rss-small",
    goal: 1.1,
  },
];
