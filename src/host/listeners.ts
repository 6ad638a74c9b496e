import { RoamError } from "../errors/mod.ts";

/** What changed when the listeners were brought in line with a list of addresses. */
export interface ListenerChange {
  /** Addresses now listened on that were not before. */
  added: string[];
  /** Addresses no longer listened on. */
  removed: string[];
  /** Addresses that could not be bound, with why. */
  failed: { address: string; message: string }[];
}

/**
 * One `Deno.serve` per address, all on the same port and the same handler.
 * The first listener fixes the port when it was 0.
 */
export class ListenerSet {
  readonly #handler: Deno.ServeHandler;
  readonly #servers = new Map<string, Deno.HttpServer<Deno.NetAddr>>();
  #port: number;

  /** Listeners for `handler`, on `port` (0 picks a free one on the first bind). */
  constructor(handler: Deno.ServeHandler, port: number) {
    this.#handler = handler;
    this.#port = port;
  }

  /** The port every listener uses (0 until the first bind when it was 0). */
  get port(): number {
    return this.#port;
  }

  /** The addresses listened on now. */
  get addresses(): string[] {
    return [...this.#servers.keys()];
  }

  /**
   * Listen on exactly `addresses`: start the missing ones, stop the extra ones.
   * With `strict`, a failure to bind throws (used at start); otherwise it is
   * reported in the result and retried at the next sync.
   */
  async sync(addresses: readonly string[], strict: boolean): Promise<ListenerChange> {
    const change: ListenerChange = { added: [], removed: [], failed: [] };
    for (const address of addresses) {
      if (this.#servers.has(address)) continue;
      try {
        this.#servers.set(address, this.#listen(address));
        change.added.push(address);
      } catch (error) {
        if (strict) {
          await this.close(0);
          throw error;
        }
        change.failed.push({ address, message: (error as Error).message });
      }
    }
    for (const [address, server] of this.#servers) {
      if (addresses.includes(address)) continue;
      this.#servers.delete(address);
      await server.shutdown();
      change.removed.push(address);
    }
    // Keep the order asked for (LAN addresses first), whatever came and went.
    const ordered = addresses.filter((a) => this.#servers.has(a)).map((a) =>
      [a, this.#servers.get(a)!] as const
    );
    this.#servers.clear();
    for (const [address, server] of ordered) this.#servers.set(address, server);
    return change;
  }

  /**
   * Stop every listener, letting calls in progress finish for up to
   * `graceMs`. Returns how many listeners were still draining when the grace
   * ran out (a client that never finishes sending its body keeps its
   * connection open; the process exiting closes it).
   */
  async close(graceMs = 5_000): Promise<number> {
    const servers = [...this.#servers.values()];
    this.#servers.clear();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = { n: 0 };
    const grace = new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs));
    await Promise.race([
      Promise.all(servers.map((s) => s.shutdown())),
      grace.then(() => late.n = servers.length),
    ]);
    clearTimeout(timer);
    return late.n;
  }

  #listen(address: string): Deno.HttpServer<Deno.NetAddr> {
    try {
      const server = Deno.serve({
        hostname: address,
        port: this.#port,
        onListen: () => {},
        onError: (error) => {
          console.error(
            `roam: unexpected error while serving a request: ${(error as Error).message}`,
          );
          return new Response(
            JSON.stringify({
              jsonrpc: "2.0",
              id: null,
              error: { code: -32603, message: "internal error" },
            }),
            {
              status: 500,
              headers: { "content-type": "application/json" },
            },
          );
        },
      }, this.#handler);
      if (this.#port === 0) this.#port = server.addr.port;
      return server;
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse) {
        throw new RoamError(
          "conflict",
          `port ${this.#port} on ${address} is in use; is another roam host running? stop it or pass --port`,
          { address, port: this.#port },
        );
      }
      if (error instanceof Deno.errors.AddrNotAvailable) {
        throw new RoamError(
          "invalid_input",
          `${address} is not an address of this machine; check --bind`,
          {
            address,
          },
        );
      }
      throw new RoamError(
        "unavailable",
        `cannot listen on ${address}:${this.#port}: ${(error as Error).message}`,
        {
          address,
          port: this.#port,
        },
      );
    }
  }
}
