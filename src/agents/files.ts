import { Buffer } from "node:buffer";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";

/** A file an agent registered: its name and the blob it is. */
export interface AgentFile {
  name: string;
  sha256: string;
  size: number;
}

/**
 * Where agents' files live on this host (the ArtifactStore, pinned by
 * `agent:<id>` under the file's name); they travel with the agent on
 * dispatch and clone.
 */
export interface AgentFileStore {
  /** Keep `bytes` as agent `id`'s file `name`, replacing a file of that name. */
  put(id: string, name: string, bytes: Uint8Array): Promise<AgentFile>;
  /** The bytes of agent `id`'s file `name`, or null. */
  get(id: string, name: string): Promise<Uint8Array | null>;
  /** Agent `id`'s files. */
  list(id: string): AgentFile[];
  /** Let go of agent `id`'s file `name`; false when it had none. */
  delete(id: string, name: string): Promise<boolean>;
}

/** Largest file an agent registers through `ctx.files.put` (it crosses the worker boundary). */
export const MAX_AGENT_FILE_BYTES = 64 * 1024 * 1024;

/** A file name: 1 to 255 characters, no control characters, no `/` at either end. */
export const AgentFileNameSchema = z.string().min(1).max(255)
  // deno-lint-ignore no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]+$/, { message: "must have no control characters" })
  .refine((n) => !n.startsWith("/") && !n.endsWith("/"), {
    message: "must not start or end with '/'",
  });

/**
 * Serve `ctx.files.*` for agent `id`: `files.put {name, data}` (base64),
 * `files.get {name}`, `files.list`, `files.delete {name}`.
 */
export async function serveFileRequest(
  files: AgentFileStore | undefined,
  id: string,
  method: string,
  params: Record<string, unknown>,
): Promise<unknown> {
  if (!files) {
    throw new RoamError("unsupported", "this host keeps no agent files (it has no ArtifactStore)", {
      method,
    });
  }
  const name = () => {
    const parsed = AgentFileNameSchema.safeParse(params.name);
    if (!parsed.success) {
      throw new RoamError(
        "invalid_input",
        `a file name ${parsed.error.issues[0].message}: ${JSON.stringify(params.name)}`,
        { name: params.name },
      );
    }
    return parsed.data;
  };
  switch (method) {
    case "files.put": {
      const fileName = name();
      if (typeof params.data !== "string") {
        throw new RoamError("invalid_input", "files.put takes the bytes as base64 in `data`", {});
      }
      if (params.data.length > Math.ceil(MAX_AGENT_FILE_BYTES / 3) * 4) {
        throw new RoamError(
          "too_large",
          `an agent file is at most ${MAX_AGENT_FILE_BYTES} bytes; put larger data in the ArtifactStore (roam artifact put) and pin it for the agent`,
          { limit: MAX_AGENT_FILE_BYTES },
        );
      }
      return await files.put(id, fileName, new Uint8Array(Buffer.from(params.data, "base64")));
    }
    case "files.get": {
      const bytes = await files.get(id, name());
      return bytes === null ? null : Buffer.from(bytes).toString("base64");
    }
    case "files.list":
      return files.list(id);
    case "files.delete":
      return await files.delete(id, name());
    default:
      throw new RoamError("unsupported", `${method} is not a files method`, { method });
  }
}
