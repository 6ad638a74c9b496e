/**
 * Registries for tests: capability plugins written as archives and an index
 * by hand (any versions, any minRoam, optionally signed), and a loopback
 * HTTP server for a registry dir.
 */
import { createHash } from "node:crypto";
import { join, normalize } from "node:path";
import { pathToFileURL } from "node:url";
import {
  createArchive,
  INDEX_FORMAT,
  type RegistryIndexInput,
  signIndex,
} from "../src/registry/mod.ts";

/** One version of a test capability. */
export interface TestVersion {
  /** Its version. */
  version: string;
  /** Default 0.1.0. */
  minRoam?: string;
  /** Files besides plugin.json; default a worker.py. */
  files?: Record<string, string>;
  /** Overrides merged into its plugin.json. */
  manifest?: Record<string, unknown>;
}

/** The repository's own registry dir (built from plugins/, checked by registry_build_test). */
export const REPO_REGISTRY = new URL("../registry/", import.meta.url).pathname;

/**
 * Write `DIR/index.json` and `DIR/archives/NAME-VERSION.tar.gz` for capability
 * plugins, signed with `signingKey` when given. Returns the index URL.
 */
export async function writeCapabilityRegistry(
  dir: string,
  plugins: Record<string, TestVersion[]>,
  options: { signingKey?: string } = {},
): Promise<string> {
  await Deno.mkdir(join(dir, "archives"), { recursive: true });
  const index: RegistryIndexInput = { format: INDEX_FORMAT, plugins: [] };
  for (const [name, versions] of Object.entries(plugins)) {
    const entry: RegistryIndexInput["plugins"][number] = {
      name,
      kind: "capability",
      description: `test capability ${name}`,
      versions: [],
    };
    for (const v of versions) {
      const manifest = {
        name,
        version: v.version,
        kind: "capability",
        entry: "worker.py",
        description: `test capability ${name}`,
        environment: { type: "system" },
        ...v.manifest,
      };
      const files = v.files ?? { "worker.py": `print("${name} ${v.version}")\n` };
      const data = await createArchive([
        { path: "plugin.json", data: new TextEncoder().encode(JSON.stringify(manifest)) },
        ...Object.entries(files).map(([path, text]) => ({
          path,
          data: new TextEncoder().encode(text),
        })),
      ]);
      const path = `archives/${name}-${v.version}.tar.gz`;
      await Deno.writeFile(join(dir, path), data);
      entry.versions.push({
        version: v.version,
        archive: {
          url: path,
          sha256: createHash("sha256").update(data).digest("hex"),
          size: data.byteLength,
        },
        minRoam: v.minRoam ?? "0.1.0",
        environment: { type: "system" },
      });
    }
    index.plugins.push(entry);
  }
  const bytes = new TextEncoder().encode(JSON.stringify(index, null, 2) + "\n");
  await Deno.writeFile(join(dir, "index.json"), bytes);
  if (options.signingKey) {
    await Deno.writeTextFile(join(dir, "index.json.sig"), signIndex(bytes, options.signingKey));
  } else {
    await Deno.remove(join(dir, "index.json.sig")).catch(() => {});
  }
  return pathToFileURL(join(dir, "index.json")).href;
}

/** A loopback HTTP server of a dir's files. */
export interface DirServer extends AsyncDisposable {
  /** `http://127.0.0.1:PORT/`. */
  url: string;
  /** The paths asked for, in order. */
  requests: string[];
  /** Stop serving. */
  close(): Promise<void>;
}

/** Serve `dir` over HTTP on loopback; `override` may answer some paths itself. */
export function serveDir(
  dir: string,
  override?: (path: string) => Response | undefined,
): Promise<DirServer> {
  const requests: string[] = [];
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        const close = () => server.shutdown();
        resolve({
          url: `http://127.0.0.1:${port}/`,
          requests,
          close,
          [Symbol.asyncDispose]: close,
        });
      },
    }, async (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      requests.push(path);
      const special = override?.(path);
      if (special) return special;
      const file = normalize(join(dir, path));
      if (!file.startsWith(dir)) return new Response("no", { status: 403 });
      try {
        return new Response(await Deno.readFile(file));
      } catch {
        return new Response("not found", { status: 404 });
      }
    });
  });
}
