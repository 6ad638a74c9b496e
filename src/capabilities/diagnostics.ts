import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";

/** Retention of the diagnostics store. */
export interface DiagnosticsRetention {
  /** Most bytes kept per capability; the oldest files go first. */
  maxBytesPerCapability: number;
  /** Files older than this are removed. */
  maxAgeMs: number;
  /** Most bytes one file takes; past it, one line says so and the rest is dropped. */
  maxFileBytes: number;
}

/** The defaults: 20 MB per capability, 7 days, 5 MB per file. */
export const DEFAULT_RETENTION: DiagnosticsRetention = {
  maxBytesPerCapability: 20 * 1024 * 1024,
  maxAgeMs: 7 * 24 * 3600_000,
  maxFileBytes: 5 * 1024 * 1024,
};

/** One log file being written: a worker's output or an environment's creation. */
export interface DiagnosticsLog {
  /** The file's path. */
  readonly path: string;
  /** Append one line, stamped with the time and its stream. */
  write(stream: string, line: string): void;
  /** The last lines written, for error messages (at most 20). */
  tail(): string[];
  /** Close the file. Idempotent. */
  close(): void;
}

/** A file's lines, as {@linkcode DiagnosticsStore.read} returns them. */
export interface DiagnosticsFile {
  /** File name, like `20261122T181500Z-worker-3f2a.log`. */
  name: string;
  /** Bytes. */
  size: number;
  /** Last modification, ISO time. */
  modifiedAt: string;
  /** The last lines asked for. */
  lines: string[];
}

const encoder = new TextEncoder();
const SAFE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Output of capability workers and environment builds, kept as files under
 * `DATA_DIR/diagnostics/<capability>/` with size and age limits.
 */
export class DiagnosticsStore {
  readonly #root: string;
  readonly #retention: DiagnosticsRetention;

  /** A store under `root` (normally `DATA_DIR/diagnostics`). */
  constructor(root: string, retention: Partial<DiagnosticsRetention> = {}) {
    this.#root = root;
    this.#retention = { ...DEFAULT_RETENTION, ...retention };
  }

  /** Open a new log file for `capability`, labelled `label` (prunes old files first). */
  open(capability: string, label: string): DiagnosticsLog {
    const dir = this.#dirOf(capability);
    Deno.mkdirSync(dir, { recursive: true });
    this.#prune(dir);
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const path = join(dir, `${stamp}-${label.replace(/[^A-Za-z0-9._-]/g, "_")}.log`);
    const file = Deno.openSync(path, { create: true, append: true });
    const max = this.#retention.maxFileBytes;
    const recent: string[] = [];
    let written = 0;
    let open = true;
    let full = false;
    return {
      path,
      write(stream, line) {
        recent.push(line);
        if (recent.length > 20) recent.shift();
        if (!open || full) return;
        let bytes = encoder.encode(`${new Date().toISOString()} ${stream} ${line}\n`);
        if (written + bytes.length > max) {
          full = true;
          bytes = encoder.encode(`-- this file reached ${max} bytes; later lines are dropped\n`);
        }
        written += bytes.length;
        try {
          file.writeSync(bytes);
        } catch {
          // A full disk must not stop the worker; the line is lost.
        }
      },
      tail: () => [...recent],
      close() {
        if (!open) return;
        open = false;
        file.close();
      },
    };
  }

  /** The last `lines` lines of the newest `files` files of `capability`, newest file last. */
  async read(capability: string, options: { lines?: number; files?: number } = {}): Promise<
    DiagnosticsFile[]
  > {
    const dir = this.#dirOf(capability);
    const entries = this.#list(dir).slice(-(options.files ?? 1));
    const wanted = options.lines ?? 100;
    const out: DiagnosticsFile[] = [];
    for (const entry of entries) {
      const text = await Deno.readTextFile(join(dir, entry.name)).catch(() => "");
      const lines = text.split("\n").filter((l) => l.length > 0);
      out.push({
        name: entry.name,
        size: entry.size,
        modifiedAt: new Date(entry.mtime).toISOString(),
        lines: lines.slice(-wanted),
      });
    }
    return out;
  }

  #dirOf(capability: string): string {
    if (!SAFE.test(capability)) {
      throw new RoamError("invalid_input", `'${capability}' is not a capability name`, {
        capability,
      });
    }
    return join(this.#root, capability);
  }

  #list(dir: string): { name: string; size: number; mtime: number }[] {
    const files: { name: string; size: number; mtime: number }[] = [];
    try {
      for (const entry of Deno.readDirSync(dir)) {
        if (!entry.isFile || !entry.name.endsWith(".log")) continue;
        const stat = Deno.statSync(join(dir, entry.name));
        files.push({ name: entry.name, size: stat.size, mtime: stat.mtime?.getTime() ?? 0 });
      }
    } catch {
      return [];
    }
    return files.sort((a, b) =>
      a.mtime - b.mtime || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    );
  }

  #prune(dir: string): void {
    const files = this.#list(dir);
    const now = Date.now();
    let total = files.reduce((sum, f) => sum + f.size, 0);
    for (const file of files) {
      const old = now - file.mtime > this.#retention.maxAgeMs;
      if (!old && total <= this.#retention.maxBytesPerCapability) continue;
      try {
        Deno.removeSync(join(dir, file.name));
        total -= file.size;
      } catch {
        // In use or gone: try again at the next open.
      }
    }
  }
}
