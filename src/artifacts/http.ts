import { z } from "zod";
import { ERROR_CODES, RoamError } from "../errors/mod.ts";
import { type Authenticate, bearerToken } from "../rpc/mod.ts";
import { parseRange } from "./range.ts";
import { type ArtifactStore, SHA256_PATTERN } from "./store.ts";

/** Header with the sha256 an upload must have (and a download has). */
export const SHA256_HEADER = "x-roam-sha256";
/** Header with a name for the uploaded blob. */
export const NAME_HEADER = "x-roam-name";
/** Header with the seconds after which an uploaded blob expires. */
export const EXPIRES_HEADER = "x-roam-expires-in";
/** Header with the ms a download may wait for a blob that has not started arriving yet. */
export const WAIT_HEADER = "x-roam-wait";
/** Longest wait a download may ask for. */
export const MAX_WAIT_MS = 120_000;

const UploadHeaders = z.object({
  sha256: z.string().regex(SHA256_PATTERN, { message: "X-Roam-Sha256 is 64 lowercase hex digits" })
    .optional(),
  name: z.string().min(1).max(255).optional(),
  mediaType: z.string().min(1).max(255).optional(),
  expiresIn: z.coerce.number().int({ message: "X-Roam-Expires-In is whole seconds" })
    .min(1).max(10 * 365 * 86400).optional(),
  size: z.coerce.number().int().min(0).optional(),
});

/** The HTTP side of the store: `PUT`/`POST /artifacts`, `GET`/`HEAD /artifacts/<sha256>`. */
export interface ArtifactRoutes {
  /** Store the raw request body; answers `{sha256, size, created}` (201 new, 200 already stored). */
  upload(request: Request): Promise<Response>;
  /** Send a blob, whole or one byte range (206), or only its headers for HEAD. */
  download(request: Request, sha256: string): Promise<Response>;
}

/**
 * HTTP handlers over `store`, with the same bearer-token check as RPC: a
 * request without a valid token gets 401 before any body is read.
 */
export function artifactRoutes(store: ArtifactStore, authenticate: Authenticate): ArtifactRoutes {
  const check = (request: Request): { subject: string } | Response => {
    const auth = authenticate(bearerToken(request));
    if (auth.ok) return { subject: auth.subject };
    return failure(auth.error, { "www-authenticate": 'Bearer realm="roam"' });
  };
  return {
    async upload(request) {
      const who = check(request);
      if (who instanceof Response) {
        await request.body?.cancel().catch(() => {});
        return who;
      }
      const headers = UploadHeaders.safeParse({
        sha256: request.headers.get(SHA256_HEADER) ?? undefined,
        name: decodeName(request.headers.get(NAME_HEADER)),
        mediaType: request.headers.get("content-type") ?? undefined,
        expiresIn: request.headers.get(EXPIRES_HEADER) ?? undefined,
        size: request.headers.get("content-length") ?? undefined,
      });
      if (!headers.success) {
        await request.body?.cancel().catch(() => {});
        return failure(
          new RoamError(
            "invalid_input",
            `bad upload header: ${headers.error.issues[0].message}`,
            {},
          ),
        );
      }
      const h = headers.data;
      try {
        const result = await store.put(request.body ?? emptyStream(), {
          sha256: h.sha256,
          size: h.size,
          name: h.name,
          mediaType: h.mediaType,
          owner: who.subject,
          expiresAt: h.expiresIn === undefined ? null : Date.now() + h.expiresIn * 1000,
        });
        return Response.json({
          sha256: result.sha256,
          size: result.size,
          created: new Date(result.createdAt).toISOString(),
        }, { status: result.created ? 201 : 200 });
      } catch (error) {
        return failure(error);
      }
    },

    async download(request, sha256) {
      const who = check(request);
      if (who instanceof Response) return who;
      if (!SHA256_PATTERN.test(sha256)) {
        return failure(
          new RoamError(
            "invalid_input",
            `"${sha256}" is not a sha256 (64 lowercase hex digits)`,
            {},
          ),
        );
      }
      const wait = Math.min(Number(request.headers.get(WAIT_HEADER) ?? 0) || 0, MAX_WAIT_MS);
      if (wait > 0) await store.whenAvailable(sha256, wait);
      const whole = store.peek(sha256);
      if (!whole) {
        return failure(
          new RoamError(
            "not_found",
            `no blob ${sha256} on this host; 'roam artifact locate' finds holders`,
            { sha256 },
          ),
        );
      }
      const headers: Record<string, string> = {
        "accept-ranges": "bytes",
        "content-type": whole.mediaType ?? "application/octet-stream",
        "etag": `"${sha256}"`,
        [SHA256_HEADER]: sha256,
      };
      const head = request.method === "HEAD";
      const size = whole.size;
      let range = size === undefined ? null : parseRange(request.headers.get("range"), size);
      // A blob still arriving is followed to its end: only ranges that run to the end are served.
      if (!whole.complete && range && range !== "unsatisfiable" && range.end !== size! - 1) {
        range = null;
      }
      if (range === "unsatisfiable") {
        return new Response(null, {
          status: 416,
          headers: { ...headers, "content-range": `bytes */${size}` },
        });
      }
      if (size !== undefined && !range) headers["content-length"] = String(size);
      if (range && size !== undefined) {
        headers["content-range"] = `bytes ${range.start}-${range.end}/${size}`;
        headers["content-length"] = String(range.end - range.start + 1);
      }
      if (head) return new Response(null, { status: range ? 206 : 200, headers });
      const opened = await store.open(sha256, range ?? {});
      if (!opened) {
        return failure(new RoamError("not_found", `blob ${sha256} was just removed`, {}));
      }
      return new Response(opened.stream, { status: range ? 206 : 200, headers });
    },
  };
}

const STATUS: Partial<Record<keyof typeof ERROR_CODES, number>> = {
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  invalid_input: 400,
  timeout: 408,
  conflict: 409,
  too_large: 413,
  quota_exceeded: 507,
  queue_full: 503,
  unavailable: 503,
  cancelled: 400,
};

/** A JSON error answer: `{error: {code, message, data}}` with a status for its code. */
function failure(error: unknown, headers: Record<string, string> = {}): Response {
  const roam = error instanceof RoamError
    ? error
    : new RoamError("internal", `internal error: ${(error as Error)?.message ?? error}`, {});
  return Response.json(
    { error: { code: roam.code, message: roam.message, data: roam.data } },
    { status: STATUS[roam.code] ?? 500, headers },
  );
}

function decodeName(value: string | null): string | undefined {
  if (value === null) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}
