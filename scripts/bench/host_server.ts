/**
 * A real roam host for the bench, started with `startHost` (not through
 * main.ts) on 127.0.0.1 and a free port, with its log silenced. Prints its
 * URL on stdout, then serves until stdin closes (the bench exiting, however it
 * exits) or SIGTERM/SIGINT.
 *
 * ```sh
 * deno run --allow-all --unstable-net --unstable-worker-options \
 *   scripts/bench/host_server.ts [--data-dir DIR] [--secret-file F] [--name N] [--peer URL]
 * ```
 *
 * Hosts of the mesh benches share one `--secret-file` and join through
 * `--peer` (loopback hosts send no multicast).
 *
 * Without `--data-dir` it uses a temporary one and removes it on the way out;
 * `--remove-data-dir` removes a given one too (so that it goes even when the
 * bench itself is killed and cannot clean up).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startHost } from "../../src/host/mod.ts";
import { serveUntilStopped } from "./serve_until_stopped.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "data-dir": { type: "string" },
    "remove-data-dir": { type: "boolean" },
    "secret-file": { type: "string" },
    name: { type: "string" },
    peer: { type: "string", multiple: true },
  },
  strict: true,
});
const ownDir = values["data-dir"] === undefined || values["remove-data-dir"] === true;
const dataDir = values["data-dir"] ?? await Deno.makeTempDir({ prefix: "roam-bench-host-" });

try {
  const host = await startHost({
    port: 0,
    dataDir,
    ...(values["secret-file"] ? { secretFile: values["secret-file"] } : {}),
    ...(values.name ? { name: values.name } : {}),
    mesh: { peers: values.peer ?? [] },
  }, { log: () => {} });
  await serveUntilStopped(host.url, () => host.stop("bench finished"));
} finally {
  if (ownDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
}
