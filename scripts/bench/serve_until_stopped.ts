/**
 * The life cycle shared by the bench's server subprocesses: announce the URL
 * on stdout, then run until stdin reaches its end (the parent closed it or
 * died) or SIGTERM/SIGINT arrives, and stop cleanly.
 *
 * @module
 */

/** Print `url` as one stdout line, wait for the end of stdin or a signal, then `stop()`. */
export async function serveUntilStopped(url: string, stop: () => Promise<void>): Promise<void> {
  const { promise: stopped, resolve } = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const signal of signals) Deno.addSignalListener(signal, resolve);
  const reader = Deno.stdin.readable.getReader();
  void (async () => {
    try {
      while (!(await reader.read()).done) { /* the bench sends nothing; wait for EOF */ }
    } catch {
      // stdin closing under us is the same request to stop
    }
    resolve();
  })();
  await Deno.stdout.write(new TextEncoder().encode(`${url}\n`));
  await stopped;
  for (const signal of signals) Deno.removeSignalListener(signal, resolve);
  await reader.cancel().catch(() => {});
  await stop();
}
