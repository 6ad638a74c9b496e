import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { RoamError } from "../errors/mod.ts";

/** The mesh secret: 32 random bytes, shared by every host of one mesh. */
export interface MeshSecret {
  /** The raw secret bytes. */
  readonly bytes: Uint8Array;
  /** Where it was read from. */
  readonly path: string;
  /** True when this call created the file. */
  readonly created: boolean;
}

const SECRET_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Read the mesh secret at `path`, or create it (64 hex characters, file mode
 * 0600) when there is none. A secret file that others may read is refused, as
 * ssh refuses a private key that others may read.
 */
export async function loadOrCreateSecret(path: string): Promise<MeshSecret> {
  try {
    return { ...(await readSecret(path)), created: false };
  } catch (error) {
    if (!(error instanceof RoamError && error.code === "not_found")) throw error;
  }
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const hex = randomBytes(32).toString("hex");
  try {
    await Deno.writeTextFile(path, hex + "\n", { mode: 0o600, createNew: true });
  } catch (error) {
    // Another process created it first; use theirs.
    if (error instanceof Deno.errors.AlreadyExists) {
      return { ...(await readSecret(path)), created: false };
    }
    throw new RoamError(
      "unavailable",
      `cannot write the mesh secret to ${path}: ${(error as Error).message}`,
      {
        path,
      },
    );
  }
  await Deno.chmod(path, 0o600);
  return { bytes: hexToBytes(hex), path, created: true };
}

/** Read an existing mesh secret; `not_found` when the file is missing. */
export async function readSecret(path: string): Promise<{ bytes: Uint8Array; path: string }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new RoamError(
        "not_found",
        `no mesh secret at ${path}; start 'roam host' once to create it`,
        { path },
      );
    }
    throw new RoamError(
      "unavailable",
      `cannot read the mesh secret at ${path}: ${(error as Error).message}`,
      {
        path,
      },
    );
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new RoamError(
      "forbidden",
      `the mesh secret ${path} may be read by others (mode ${
        (info.mode & 0o777).toString(8)
      }); run 'chmod 600 ${path}'`,
      { path, mode: info.mode & 0o777 },
    );
  }
  const text = (await Deno.readTextFile(path)).trim();
  if (!SECRET_PATTERN.test(text)) {
    throw new RoamError(
      "invalid_input",
      `the mesh secret ${path} is not 64 hex characters; copy it whole from another host of the mesh, or delete it to make a new one`,
      { path },
    );
  }
  return { bytes: hexToBytes(text), path };
}

function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));
}
