import type { Host } from "./host.ts";

/**
 * Stop `host` cleanly on SIGINT or SIGTERM; a second signal while stopping
 * exits at once with status 130. Returns a function that removes the handlers.
 */
export function stopOnSignals(host: Host, onStopped: (signal: Deno.Signal) => void): () => void {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  let received = false;
  const handlers = signals.map((signal) => {
    const handler = () => {
      if (received) Deno.exit(130);
      received = true;
      host.stop(`received ${signal}`).then(() => onStopped(signal));
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return () => handlers.forEach(([signal, handler]) => Deno.removeSignalListener(signal, handler));
}
