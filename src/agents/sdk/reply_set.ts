/** One agent's answer within a {@linkcode ReplySet}. */
export type Reply =
  | { agentId: string; ok: true; value: unknown }
  | { agentId: string; ok: false; error: { code: string; message: string } };

/** The answers of every agent a multicast reached, in the order they arrived. */
export class ReplySet implements Iterable<Reply> {
  readonly #replies: Reply[];

  /** Wrap a list of replies. */
  constructor(replies: Reply[]) {
    this.#replies = replies;
  }

  /** How many agents answered (successfully or not). */
  get size(): number {
    return this.#replies.length;
  }

  /** The successful values, by agent id. */
  values(): Map<string, unknown> {
    return new Map(this.#replies.flatMap((r) => r.ok ? [[r.agentId, r.value] as const] : []));
  }

  /** The failures, by agent id. */
  errors(): Map<string, { code: string; message: string }> {
    return new Map(this.#replies.flatMap((r) => r.ok ? [] : [[r.agentId, r.error] as const]));
  }

  /** Every reply. */
  [Symbol.iterator](): Iterator<Reply> {
    return this.#replies[Symbol.iterator]();
  }

  /** Plain data, for logs and JSON. */
  toJSON(): Reply[] {
    return [...this.#replies];
  }
}
