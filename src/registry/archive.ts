import { createReadStream } from "node:fs";
import { dirname, join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, gzipSync } from "node:zlib";
import { Buffer } from "node:buffer";
import tar from "tar-stream";
import { RoamError } from "../errors/mod.ts";

/** One file to put in an archive. */
export interface ArchiveFile {
  /** Path inside the archive, `/`-separated and relative. */
  path: string;
  /** The file's bytes. */
  data: Uint8Array;
  /** Whether it is executable (mode 0755 rather than 0644). */
  executable?: boolean;
}

/** Bounds on what {@linkcode extractArchive} unpacks. */
export interface ExtractLimits {
  /** Most entries (files and dirs). */
  maxEntries: number;
  /** Largest single file, in bytes. */
  maxFileBytes: number;
  /** Most bytes of all files together. */
  maxTotalBytes: number;
}

/** Limits used when none are given: 10 000 entries, 256 MiB a file, 1 GiB in all. */
export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = {
  maxEntries: 10_000,
  maxFileBytes: 256 * 1024 * 1024,
  maxTotalBytes: 1024 * 1024 * 1024,
};

/**
 * A `.tar.gz` of `files`, byte for byte the same for the same input: entries
 * sorted by path, mtime 0, owner 0:0 with no names, modes 0644 or 0755, and
 * a gzip header without a time. The registry builder relies on this, so
 * that an archive's sha256 changes only when its content does.
 */
export async function createArchive(files: ArchiveFile[]): Promise<Uint8Array> {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const [i, f] of sorted.entries()) {
    const problem = unsafePath(f.path);
    if (problem) throw new RoamError("invalid_input", `cannot archive ${f.path}: ${problem}`);
    if (i > 0 && sorted[i - 1].path === f.path) {
      throw new RoamError("invalid_input", `cannot archive ${f.path} twice`);
    }
  }
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  pack.on("data", (chunk) => chunks.push(chunk as Uint8Array));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  for (const f of sorted) {
    await new Promise<void>((resolve, reject) => {
      pack.entry(
        {
          name: f.path,
          size: f.data.byteLength,
          mode: f.executable ? 0o755 : 0o644,
          mtime: new Date(0),
          uid: 0,
          gid: 0,
          uname: "",
          gname: "",
          type: "file",
        },
        Buffer.from(f.data),
        (error?: Error | null) => error ? reject(error) : resolve(),
      );
    });
  }
  pack.finalize();
  await ended;
  return new Uint8Array(gzipSync(Buffer.concat(chunks), { level: 9 }));
}

/**
 * Unpack a `.tar.gz` file into `dir` (which must exist and be empty),
 * refusing anything that could reach outside it or swell without bound:
 * absolute paths, `..`, links of any kind, devices, a path twice, more
 * entries or bytes than `limits` allow. Returns the files written.
 *
 * On a refusal, what was written so far stays in `dir`: the caller unpacks
 * into a staging dir and removes it.
 *
 * @throws {RoamError} `unavailable` for an unsafe or malformed archive (`data.unsafe`
 * when it tried to leave the dir or held a link); `too_large` past a limit. (An archive
 * is the registry's fault, never the caller's input.)
 */
export async function extractArchive(
  file: string,
  dir: string,
  limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS,
): Promise<string[]> {
  const written: string[] = [];
  const seen = new Set<string>();
  let entries = 0;
  let total = 0;
  // Headers and padding come on top of file bytes; beyond this the stream is a bomb.
  const maxStream = limits.maxTotalBytes + (limits.maxEntries + 4) * 1536 + 10_240;
  let streamed = 0;
  const counter = new Transform({
    transform(chunk: Uint8Array, _encoding, callback) {
      streamed += chunk.byteLength;
      if (streamed > maxStream) {
        callback(tooLarge(`the archive unpacks to more than ${limits.maxTotalBytes} bytes`));
      } else callback(null, chunk);
    },
  });
  const extract = tar.extract();
  const feeding = pipeline(createReadStream(file), createGunzip(), counter, extract);
  let fed: unknown;
  const fedDone = feeding.then(() => undefined, (error) => (fed = error));
  try {
    for await (const entry of extract) {
      const header = entry.header;
      entries++;
      if (entries > limits.maxEntries) {
        throw tooLarge(`the archive holds more than ${limits.maxEntries} entries`);
      }
      const name = String(header.name).replace(/^(\.\/)+/, "");
      if (name === "" || name === ".") {
        entry.resume();
        continue;
      }
      const clean = name.replace(/\/+$/, "");
      const problem = unsafePath(clean);
      if (problem) throw unsafe(`the archive entry ${JSON.stringify(name)} ${problem}`);
      if (header.type === "directory") {
        await Deno.mkdir(join(dir, clean), { recursive: true, mode: 0o755 });
        entry.resume();
        continue;
      }
      if (header.type !== "file" && header.type !== "contiguous-file") {
        const target = header.linkname ? ` -> ${header.linkname}` : "";
        throw unsafe(
          `the archive entry ${
            JSON.stringify(name)
          }${target} is a ${header.type}; plugin archives may hold only files and dirs`,
        );
      }
      if (seen.has(clean)) throw unsafe(`the archive holds ${JSON.stringify(name)} twice`);
      seen.add(clean);
      const size = Number(header.size ?? 0);
      if (size > limits.maxFileBytes) {
        throw tooLarge(
          `the archive entry ${
            JSON.stringify(name)
          } is ${size} bytes; at most ${limits.maxFileBytes} are allowed per file`,
        );
      }
      total += size;
      if (total > limits.maxTotalBytes) {
        throw tooLarge(`the archive unpacks to more than ${limits.maxTotalBytes} bytes`);
      }
      const path = join(dir, clean);
      await Deno.mkdir(dirname(path), { recursive: true, mode: 0o755 });
      const mode = (Number(header.mode ?? 0o644) & 0o111) ? 0o755 : 0o644;
      let out: Deno.FsFile;
      try {
        out = await Deno.open(path, { write: true, createNew: true, mode });
      } catch (error) {
        throw unsafe(
          `the archive entry ${JSON.stringify(name)} cannot be written: ${
            (error as Error).message
          }`,
        );
      }
      let bytes = 0;
      try {
        for await (const chunk of entry as AsyncIterable<Uint8Array>) {
          bytes += chunk.byteLength;
          if (bytes > size) throw unsafe(`the archive entry ${JSON.stringify(name)} overruns`);
          let offset = 0;
          while (offset < chunk.byteLength) offset += await out.write(chunk.subarray(offset));
        }
      } finally {
        out.close();
      }
      written.push(clean);
    }
  } catch (error) {
    extract.destroy();
    await fedDone;
    if (error instanceof RoamError) throw error;
    throw malformed(fed ?? error);
  }
  await fedDone;
  if (fed) throw fed instanceof RoamError ? fed : malformed(fed);
  return written;
}

/** Why a path may not be in an archive, or undefined when it may. */
function unsafePath(path: string): string | undefined {
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) return "is an absolute path";
  if (path.includes("\\") || path.includes("\0")) return "contains '\\' or NUL";
  const parts = path.split("/");
  if (parts.some((p) => p === "..")) return "climbs out of the plugin dir with '..'";
  if (parts.some((p) => p === "" || p === ".")) return "has an empty or '.' part";
  if (path.length > 1024) return "is longer than 1024 characters";
  return undefined;
}

function unsafe(message: string): RoamError {
  return new RoamError("unavailable", `${message}; the archive was refused`, { unsafe: true });
}

function tooLarge(message: string): RoamError {
  return new RoamError("too_large", `${message}; the archive was refused`, {});
}

function malformed(error: unknown): RoamError {
  return new RoamError(
    "unavailable",
    `the archive is not a valid .tar.gz: ${(error as Error)?.message ?? String(error)}`,
    {},
  );
}
