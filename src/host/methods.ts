import { z } from "zod";
import {
  EVENT_NOTIFICATION,
  eventsSince,
  eventsSubscribe,
  eventsUnsubscribe,
  hostHealth,
  hostInfo,
  rpcDiscover,
} from "../api/mod.ts";
import { ERROR_CODES, RoamError } from "../errors/mod.ts";
import { implement, type MethodImpl, type Session } from "../rpc/mod.ts";
import { EventLog, type RoamEvent } from "../store/mod.ts";
import { ROAM_VERSION } from "../version.ts";

/** What the host's own methods read. */
export interface HostMethodDeps {
  /** The event log. */
  events: EventLog;
  /** The current `host.info` result. */
  info: () => z.input<typeof hostInfo.result>;
  /** The methods being served, for `rpc.discover`. */
  methods: () => readonly MethodImpl[];
  /** Most live subscriptions per WebSocket. */
  maxSubscriptions: number;
}

/** The methods of the host itself: health, info, events and discovery. */
export function hostMethods(deps: HostMethodDeps): MethodImpl[] {
  const subscriptions = new Map<string, Map<string, () => void>>();
  return [
    implement(hostHealth, () => ({ ok: true as const, version: ROAM_VERSION })),
    implement(hostInfo, () => deps.info()),
    implement(eventsSince, ({ since, limit, types }) => {
      const events = deps.events.since({ since, limit, types });
      const { latest, oldest } = deps.events.bounds();
      return { events, next: events.at(-1)?.seq ?? Math.max(since, 0), latest, oldest };
    }),
    implement(eventsSubscribe, ({ since, types }, ctx) => {
      const session = ctx.session!;
      let mine = subscriptions.get(session.id);
      if (!mine) {
        subscriptions.set(session.id, mine = new Map());
        session.onClose(() => {
          for (const stop of mine!.values()) stop();
          subscriptions.delete(session.id);
        });
      }
      if (mine.size >= deps.maxSubscriptions) {
        throw new RoamError(
          "queue_full",
          `at most ${deps.maxSubscriptions} subscriptions per WebSocket`,
          {
            limit: deps.maxSubscriptions,
          },
        );
      }
      const id = crypto.randomUUID();
      const stop = subscribe(deps.events, session, id, since, types);
      mine.set(id, stop);
      return { subscription: id, latest: deps.events.bounds().latest };
    }),
    implement(eventsUnsubscribe, ({ subscription }, ctx) => {
      const mine = subscriptions.get(ctx.session!.id);
      const stop = mine?.get(subscription);
      if (!stop) return { ok: false };
      stop();
      mine!.delete(subscription);
      return { ok: true };
    }),
    implement(rpcDiscover, () => ({
      version: ROAM_VERSION,
      methods: deps.methods().map(({ contract }) => ({
        name: contract.name,
        summary: contract.summary,
        public: contract.public ?? false,
        transport: contract.transport ?? "any",
        ...(contract.positional ? { positional: [...contract.positional] } : {}),
        ...(contract.timeoutMs ? { timeoutMs: contract.timeoutMs } : {}),
        params: z.toJSONSchema(contract.params, { io: "input", unrepresentable: "any" }),
        result: z.toJSONSchema(contract.result, { io: "output", unrepresentable: "any" }),
      })),
      errors: Object.entries(ERROR_CODES).map(([code, number]) => ({ code, number })),
    })),
  ];
}

/**
 * Send matching events to a session: first the kept ones after `since` (when
 * given), then each new one, in seq order with no gap and no repeat.
 */
function subscribe(
  log: EventLog,
  session: Session,
  subscription: string,
  since: number | undefined,
  types: readonly string[] | undefined,
): () => void {
  let last = since ?? log.bounds().latest;
  const send = (event: RoamEvent) => {
    if (event.seq <= last) return;
    last = event.seq;
    if (EventLog.matches(event.type, types)) {
      session.notify(EVENT_NOTIFICATION, { subscription, event });
    }
  };
  // Reading the log is synchronous, so no event can be appended between the
  // replay and the start of listening: nothing is missed or sent twice.
  while (since !== undefined && !session.closed) {
    const page = log.since({ since: last, limit: 500 });
    if (page.length === 0) break;
    page.forEach(send);
  }
  return log.listen(send);
}
