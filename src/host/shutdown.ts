import type { Host } from "./host.ts";

/**
 * Start a host and run it until SIGINT or SIGTERM, then stop it cleanly. The
 * handlers are in place before the host starts, so a signal that arrives
 * during start-up stops it as soon as it is up. A second signal while
 * stopping exits at once with status 130.
 */
export async function runUntilSignal(start: () => Promise<Host>): Promise<void> {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  let host: Host | undefined;
  let received: Deno.Signal | undefined;
  const handler = (signal: Deno.Signal) => () => {
    if (received) Deno.exit(130);
    received = signal;
    host?.stop(`received ${signal}`);
  };
  const handlers = signals.map((signal) => [signal, handler(signal)] as const);
  handlers.forEach(([signal, fn]) => Deno.addSignalListener(signal, fn));
  try {
    host = await start();
    if (received) host.stop(`received ${received}`);
    await host.finished;
  } finally {
    handlers.forEach(([signal, fn]) => Deno.removeSignalListener(signal, fn));
  }
}
