import { RoamError } from "../errors/mod.ts";
import { type BodyLimits, readBodyText } from "./body.ts";
import type { Dispatcher } from "./dispatch.ts";
import { toErrorObject } from "./errors.ts";
import type { Response as RpcResponse } from "./protocol.ts";

/** The outcome of checking a caller's credentials. */
export type AuthResult =
  | { ok: true; subject: string; expiresAt: number }
  | { ok: false; error: RoamError };

/** Checks a bearer token; `null` when the caller sent none. */
export type Authenticate = (token: string | null) => AuthResult;

/** The token of an `Authorization: Bearer TOKEN` header, or null. */
export function bearerToken(request: Request): string | null {
  const header = request.headers.get("authorization");
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match ? match[1] : null;
}

/** Options for {@linkcode createHttpRpcHandler}. */
export interface HttpRpcOptions {
  /** Serves the calls. */
  dispatcher: Dispatcher;
  /** Checks credentials; calls to public methods may go without. */
  authenticate: Authenticate;
  /** Size and time limits for the request body. */
  limits: BodyLimits;
}

const JSON_HEADERS = { "content-type": "application/json" };
/** Largest body read from a caller without a valid token (public calls are tiny). */
export const ANONYMOUS_MAX_BYTES = 64 * 1024;

/**
 * A `POST /rpc` handler: JSON-RPC 2.0 over HTTP. Answers 200 with the
 * response, 204 when the body held notifications only, 401 without a valid
 * token, 413 for a body over the limit and 408 for one that arrives too slowly;
 * every non-204 answer carries a JSON-RPC response body.
 */
export function createHttpRpcHandler(
  options: HttpRpcOptions,
): (request: Request) => Promise<Response> {
  const { dispatcher, authenticate, limits } = options;
  // The answer for "no token" never changes; work it out once (health checks hit it).
  const missing = authenticate(null);
  const anonymousMax = Math.min(limits.maxBytes, ANONYMOUS_MAX_BYTES);
  return async (request) => {
    const token = bearerToken(request);
    const auth = token === null ? missing : authenticate(token);
    let text: string;
    try {
      // Without a valid token only small (public) calls are read at all.
      text = await readBodyText(request, auth.ok ? limits : { ...limits, maxBytes: anonymousMax });
    } catch (error) {
      const status = error instanceof RoamError && error.code === "too_large" ? 413 : 408;
      return reply(status, { jsonrpc: "2.0", id: null, error: toErrorObject(error) });
    }
    const payload = dispatcher.parse(text);
    if (!auth.ok && !dispatcher.isPublicOnly(payload)) {
      return reply(401, { jsonrpc: "2.0", id: null, error: toErrorObject(auth.error) }, {
        "www-authenticate": 'Bearer realm="roam"',
      });
    }
    // request.signal is not passed on: Deno aborts it after every response
    // (legacy behaviour), which would say nothing about the caller leaving.
    const response = await dispatcher.execute(payload, { subject: auth.ok ? auth.subject : null });
    if (response === undefined) return new Response(null, { status: 204 });
    return reply(200, response);
  };
}

function reply(
  status: number,
  body: RpcResponse | RpcResponse[],
  headers: Record<string, string> = {},
) {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}
