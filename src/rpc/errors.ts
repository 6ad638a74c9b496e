import type { z } from "zod";
import { ERROR_CODE_NAMES, ERROR_CODES, type ErrorCode, RoamError } from "../errors/mod.ts";
import type { ErrorObject } from "./protocol.ts";

const byNumber = new Map<number, ErrorCode>(
  Object.entries(ERROR_CODES).map(([name, n]) => [n, name as ErrorCode]),
);

/** Hook for failures that are bugs; the host logs them with an id. */
export type InternalErrorSink = (error: unknown, reference: string) => void;

/**
 * Turn anything thrown by a handler into a JSON-RPC error object. A
 * {@linkcode RoamError} keeps its message and data; anything else is a bug and
 * reaches the caller only as a reference to the host's log.
 */
export function toErrorObject(error: unknown, sink?: InternalErrorSink): ErrorObject {
  if (error instanceof RoamError) {
    return {
      code: ERROR_CODES[error.code],
      message: error.message,
      data: { code: error.code, ...error.data },
    };
  }
  const reference = crypto.randomUUID().slice(0, 8);
  sink?.(error, reference);
  return {
    code: ERROR_CODES.internal,
    message: `internal error (reference ${reference}); the host's log has the details`,
    data: { code: "internal", reference },
  };
}

/** The -32602 error for params that fail their schema; the issues go in `data`. */
export function invalidParams(method: string, error: z.ZodError): RoamError {
  const first = error.issues[0];
  const where = first && first.path.length ? ` at ${first.path.join(".")}` : "";
  return new RoamError(
    "invalid_params",
    `invalid params for ${method}${where}: ${first?.message ?? "does not match the schema"}`,
    { method, issues: error.issues.map(({ code, path, message }) => ({ code, path, message })) },
  );
}

/** Turn a JSON-RPC error object from a server back into a {@linkcode RoamError}. */
export function fromErrorObject(error: ErrorObject): RoamError {
  const data: Record<string, unknown> =
    (error.data && typeof error.data === "object" && !Array.isArray(error.data))
      ? { ...(error.data as Record<string, unknown>) }
      : (error.data === undefined ? {} : { value: error.data });
  const named = typeof data.code === "string" && (ERROR_CODE_NAMES as string[]).includes(data.code)
    ? data.code as ErrorCode
    : undefined;
  const code = named ?? byNumber.get(error.code) ?? "internal";
  delete data.code;
  return new RoamError(code, error.message, { ...data, rpcCode: error.code });
}
