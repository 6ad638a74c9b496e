/**
 * roam's one error type and its stable codes.
 *
 * Every failure that reaches a person or another program is a
 * {@linkcode RoamError}: a stable `code` (used by the RPC error mapping and by
 * tests), a message that says what happened and what to do, and structured
 * `data`.
 *
 * @module
 */

/**
 * The stable error codes of roam and the JSON-RPC error number each maps to.
 * The first five are the JSON-RPC 2.0 standard errors; roam's own sit in
 * the specification's "server error" range (-32000 to -32099). Numbers never
 * change once published (see docs/errors.md).
 */
export const ERROR_CODES = {
  /** The request body is not valid JSON (JSON-RPC standard). */
  parse_error: -32700,
  /** The JSON is not a valid JSON-RPC request object (JSON-RPC standard). */
  invalid_request: -32600,
  /** No method of that name (JSON-RPC standard). */
  method_not_found: -32601,
  /** The params do not match the method's schema (JSON-RPC standard). */
  invalid_params: -32602,
  /** A bug or an unexpected failure inside roam (JSON-RPC standard). */
  internal: -32603,
  /** The caller gave no token, a forged one, or an expired one. */
  unauthorized: -32001,
  /** The caller is known but may not do this. */
  forbidden: -32002,
  /** Something this host depends on is not there right now (a peer, a disk). */
  unavailable: -32003,
  /** The thing named does not exist. */
  not_found: -32004,
  /** Input is well-formed but wrong for this operation (beyond schema checks). */
  invalid_input: -32005,
  /** The operation did not finish within its time limit. */
  timeout: -32008,
  /** The operation conflicts with the current state (exists already, busy). */
  conflict: -32009,
  /** A worker, agent or subprocess died while doing the work. */
  crashed: -32010,
  /** A request, message or upload is larger than the limit. */
  too_large: -32011,
  /** A queue, mailbox or buffer is full. */
  queue_full: -32012,
  /** A storage or resource quota would be exceeded. */
  quota_exceeded: -32013,
  /** The operation was cancelled by its caller. */
  cancelled: -32014,
  /** The operation needs a different transport (for example, a WebSocket). */
  unsupported: -32015,
  /** A value could not be serialized to JSON. */
  serialization: -32016,
  /** An agent has no handler for a message of that kind. */
  not_handled: -32017,
  /** An agent's handler threw; `data` says what it threw. */
  agent_error: -32018,
  /** The agent is asleep and does not take messages now. */
  inactive: -32019,
  /** The agent moved to another host; `data.location` is that host's URL. */
  moved: -32020,
} as const;

/** One of roam's stable error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Every code, for validation of errors that arrive over the wire. */
export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as ErrorCode[];

/**
 * The error every roam subsystem throws.
 *
 * @example
 * throw new RoamError("not_found", `no agent with id ${id}; list agents with 'roam agent ls'`, { id });
 */
export class RoamError extends Error {
  /** The stable code; match on this, never on the message. */
  readonly code: ErrorCode;
  /** Structured facts about the failure, safe to send to the caller. */
  readonly data: Record<string, unknown>;

  /** Make an error with a code, a message a person can act on, and data. */
  constructor(
    code: ErrorCode,
    message: string,
    data: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "RoamError";
    this.code = code;
    this.data = data;
  }
}

/** Whether `value` is a {@linkcode RoamError}, optionally with a given code. */
export function isRoamError(value: unknown, code?: ErrorCode): value is RoamError {
  return value instanceof RoamError && (code === undefined || value.code === code);
}

/** The message of any thrown value, for places that must print something. */
export function messageOf(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}
