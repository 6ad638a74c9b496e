import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";

/** The port a host listens on unless told otherwise. */
export const DEFAULT_PORT = 7420;

/** The URL a client tries when nothing else names a host. */
export const DEFAULT_URL = `http://127.0.0.1:${DEFAULT_PORT}`;

/** The data dir used unless told otherwise: `$ROAM_DATA_DIR`, else `~/.roam`. */
export function defaultDataDir(): string {
  const fromEnv = Deno.env.get("ROAM_DATA_DIR");
  if (fromEnv) return fromEnv;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (!home) {
    throw new RoamError(
      "invalid_input",
      "cannot find the home directory (HOME is unset); pass --data-dir",
      {},
    );
  }
  return join(home, ".roam");
}
