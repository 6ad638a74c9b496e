import { createHash } from "node:crypto";
import { join } from "node:path";

/** The file whose presence says an environment was created completely. */
export const READY_MARKER = ".roam-ready";

/**
 * Environments by the hash of their spec under one root
 * (`DATA_DIR/envs/<type>-<hash>`), reused across restarts. An environment
 * counts only once its ready marker is written, so a creation cut short is
 * removed and done again; concurrent requests for the same one share one
 * creation.
 */
export class EnvironmentCache {
  readonly #root: string;
  readonly #inflight = new Map<string, Promise<string>>();

  /** A cache under `root`. */
  constructor(root: string) {
    this.#root = root;
  }

  /** The key of a spec: its type and a hash of every input that shapes it. */
  static keyOf(type: string, inputs: unknown): string {
    const hash = createHash("sha256").update(JSON.stringify(inputs)).digest("hex");
    return `${type}-${hash.slice(0, 20)}`;
  }

  /** Whether the environment `key` is ready. */
  isReady(key: string): boolean {
    try {
      return Deno.statSync(join(this.#root, key, READY_MARKER)).isFile;
    } catch {
      return false;
    }
  }

  /**
   * The prefix of environment `key`, made by `build(prefix)` when it is not
   * ready yet.
   */
  ensure(key: string, build: (prefix: string) => Promise<void>): Promise<string> {
    const prefix = join(this.#root, key);
    if (this.isReady(key)) return Promise.resolve(prefix);
    const running = this.#inflight.get(key);
    if (running) return running;
    const creation = (async () => {
      await Deno.remove(prefix, { recursive: true }).catch(() => {});
      await Deno.mkdir(this.#root, { recursive: true });
      try {
        await build(prefix);
      } catch (error) {
        await Deno.remove(prefix, { recursive: true }).catch(() => {});
        throw error;
      }
      await Deno.writeTextFile(
        join(prefix, READY_MARKER),
        JSON.stringify({ key, readyAt: new Date().toISOString() }) + "\n",
      );
      return prefix;
    })().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, creation);
    return creation;
  }
}
