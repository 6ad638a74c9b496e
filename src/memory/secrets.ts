import { z } from "zod";
import { RoamError } from "../errors/mod.ts";
import { fromBase64 } from "./record.ts";
import type { Keyring } from "./transforms.ts";

/** One S3-compatible bucket, as the secrets file states it. */
export const S3SecretSchema = z.object({
  /** The service's base URL, like `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`. */
  endpoint: z.string().url(),
  /** The bucket (path-style addressing). */
  bucket: z.string().min(3).max(63).regex(/^[a-z0-9][a-z0-9.-]+$/, {
    message: "a bucket name is 3 to 63 lowercase letters, digits, '.' or '-'",
  }),
  /** The signing region. Default `us-east-1`. */
  region: z.string().min(1).max(64).default("us-east-1"),
  /** The access key id. */
  accessKeyId: z.string().min(1).max(256),
  /** The secret access key. */
  secretAccessKey: z.string().min(1).max(256),
  /** A session token, for temporary credentials. */
  sessionToken: z.string().min(1).max(4096).optional(),
  /** Where in the bucket roam keeps its records; each pool gets `PREFIX<pool>/`. Default `roam/`. */
  prefix: z.string().max(256).regex(/^([^/].*\/)?$/, {
    message: "a prefix is empty or ends with '/', and does not start with '/'",
  }).default("roam/"),
}).strict();

/** An S3 bucket's settings and credentials. */
export type S3Secret = z.output<typeof S3SecretSchema>;

const KeyBase64 = z.string().refine((v) => {
  try {
    return fromBase64(v).length === 32;
  } catch {
    return false;
  }
}, { message: "an encryption key is 32 bytes in base64 (openssl rand -base64 32)" });

/**
 * The memory secrets file (JSON, mode 0600): encryption keys by id, and S3
 * pools by name. Nothing in it is ever exported or stored in a record.
 */
export const MemorySecretsSchema = z.object({
  /** AES-256-GCM keys by id; records name the id. */
  keys: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), KeyBase64).default({}),
  /** S3-compatible pools by name. */
  s3: z.record(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/), S3SecretSchema).default({}),
}).strict();

/** The memory secrets, parsed. */
export interface MemorySecrets {
  /** Keys by id, as bytes. */
  keys: Keyring;
  /** S3 pools by name. */
  s3: Record<string, S3Secret>;
}

/**
 * Read the memory secrets file. A missing file means no secrets; a file that
 * others can read (any group or other permission bit) is refused, as is one
 * that does not match {@linkcode MemorySecretsSchema}.
 */
export async function readMemorySecrets(path: string): Promise<MemorySecrets> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (Deno.build.os !== "windows" && info.mode !== null && (info.mode & 0o077) !== 0) {
      throw new RoamError(
        "forbidden",
        `the memory secrets file ${path} is readable by others (mode ${
          (info.mode & 0o777).toString(8)
        }); run 'chmod 600 ${path}'`,
        { path },
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { keys: {}, s3: {} };
    if (error instanceof RoamError) throw error;
    throw new RoamError("unavailable", `cannot read ${path}: ${(error as Error).message}`, {
      path,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new RoamError("invalid_input", `${path} is not JSON: ${(error as Error).message}`, {
      path,
    });
  }
  const parsed = MemorySecretsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RoamError(
      "invalid_input",
      `${path}: ${issue.path.join(".") || "(top)"}: ${issue.message}`,
      { path },
    );
  }
  const keys: Record<string, Uint8Array> = {};
  for (const [id, b64] of Object.entries(parsed.data.keys)) keys[id] = fromBase64(b64);
  return { keys, s3: parsed.data.s3 };
}
