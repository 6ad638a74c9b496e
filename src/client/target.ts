import { join } from "node:path";
import { isRoamError, RoamError } from "../errors/mod.ts";
import { normalizeHostUrl } from "../rpc/mod.ts";
import { readSecret, TokenSigner } from "../security/mod.ts";
import { DEFAULT_URL, defaultDataDir } from "./defaults.ts";
import { readRuntimeInfo } from "./runtime_file.ts";

/** What names the host to talk to and the token to use; all optional. */
export interface TargetOptions {
  /** Host URL; else `$ROAM_HOST`, else the local host's runtime file, else http://127.0.0.1:7420. */
  url?: string;
  /** Bearer token; else `$ROAM_TOKEN`, else one minted from the local mesh secret. */
  token?: string;
  /** Data dir of the local host; else `$ROAM_DATA_DIR`, else `~/.roam`. */
  dataDir?: string;
}

/** The host and token a client will use, and where each came from. */
export interface Target {
  /** The host's base URL. */
  url: string;
  /** The token, when one was given or could be minted. */
  token?: string;
  /** Where the URL came from: `option`, `env`, `runtime-file` or `default`. */
  urlSource: "option" | "env" | "runtime-file" | "default";
  /** Where the token came from: `option`, `env`, `local-secret` or `none`. */
  tokenSource: "option" | "env" | "local-secret" | "none";
}

/** Lifetime of a token minted for one local command. */
export const LOCAL_TOKEN_TTL_MS = 10 * 60 * 1000;

/**
 * Find the host to talk to and a token for it. On the host's own machine no
 * option is needed: the URL comes from the running host's runtime file and a
 * short-lived token is minted from the local mesh secret. Missing read or env
 * permissions only narrow the search; they never throw.
 */
export async function resolveTarget(options: TargetOptions = {}): Promise<Target> {
  const dataDir = options.dataDir ?? tryEnvDataDir();
  const runtime = dataDir ? await readRuntimeInfo(dataDir).catch(() => undefined) : undefined;

  let url: string;
  let urlSource: Target["urlSource"];
  const envUrl = tryEnv("ROAM_HOST");
  if (options.url) [url, urlSource] = [options.url, "option"];
  else if (envUrl) [url, urlSource] = [envUrl, "env"];
  else if (runtime) [url, urlSource] = [runtime.url, "runtime-file"];
  else [url, urlSource] = [DEFAULT_URL, "default"];
  url = normalizeHostUrl(url);

  const envToken = tryEnv("ROAM_TOKEN");
  if (options.token) return { url, urlSource, token: options.token, tokenSource: "option" };
  if (envToken) return { url, urlSource, token: envToken, tokenSource: "env" };
  const secretFile = runtime?.secretFile ?? (dataDir ? join(dataDir, "secret") : undefined);
  if (secretFile) {
    try {
      const secret = await readSecret(secretFile);
      const token = new TokenSigner(secret.bytes).mint({
        subject: "local",
        ttlMs: LOCAL_TOKEN_TTL_MS,
      });
      return { url, urlSource, token, tokenSource: "local-secret" };
    } catch (error) {
      // A secret that others may read is worth saying; a missing one is not.
      if (isRoamError(error, "forbidden")) throw error;
      if (!(error instanceof RoamError) && !(error instanceof Deno.errors.NotCapable)) throw error;
    }
  }
  return { url, urlSource, tokenSource: "none" };
}

function tryEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

function tryEnvDataDir(): string | undefined {
  try {
    return defaultDataDir();
  } catch {
    return undefined;
  }
}
