/** The stable codes an agent sees on failed calls (the same as roam's RPC error codes). */
export type AgentErrorCode =
  | "not_handled"
  | "crashed"
  | "timeout"
  | "not_found"
  | "queue_full"
  | "inactive"
  | "moved"
  | "invalid_input"
  | "serialization"
  | "forbidden"
  | "quota_exceeded"
  | "conflict"
  | "internal"
  | string;

/** A failed call between agents, or from the host to an agent, with a stable code. */
export class AgentError extends Error {
  /** The stable code. */
  readonly code: AgentErrorCode;
  /** Structured facts. */
  readonly data: Record<string, unknown>;

  /** Make an error with a code, a message and data. */
  constructor(code: AgentErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = "AgentError";
    this.code = code;
    this.data = data;
  }
}

/** Thrown (or returned by default) when an agent has no handler for a message kind. */
export class NotHandled extends AgentError {
  /** Make the error for `kind`. */
  constructor(kind: string) {
    super("not_handled", `this agent does not handle messages of kind "${kind}"`, { kind });
    this.name = "NotHandled";
  }
}
