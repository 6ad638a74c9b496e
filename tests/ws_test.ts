/**
 * JSON-RPC over a real host's WebSocket: calls, and event subscriptions
 * (live delivery, replay from a seq, type filters, unsubscribe, and release
 * of subscriptions when the socket goes away).
 */
import assert from "node:assert/strict";
import { RoamError } from "../src/errors/mod.ts";
import { type Host, type HostConfigInput, startHost } from "../src/host/mod.ts";
import { RpcWsClient } from "../src/rpc/mod.ts";
import type { RoamEvent } from "../src/store/mod.ts";
import { within } from "./support/wait.ts";

async function withHost(
  config: HostConfigInput,
  fn: (host: Host) => Promise<void>,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-ws-" });
  try {
    const host = await startHost({ port: 0, dataDir, ...config }, { log: () => {} });
    try {
      await fn(host);
    } finally {
      await host.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

async function connect(host: Host): Promise<RpcWsClient> {
  return await RpcWsClient.connect({ url: host.url, token: host.tokens.mint({ ttlMs: 60_000 }) });
}

interface EventNote {
  subscription: string;
  event: RoamEvent;
}

/** Every `events.event` notification a client receives, with a way to wait for one. */
class Notes {
  readonly all: EventNote[] = [];
  readonly #waiters: { done: () => boolean; resolve: () => void }[] = [];

  constructor(client: RpcWsClient) {
    client.on("events.event", (params) => {
      this.all.push(params as EventNote);
      for (const w of [...this.#waiters]) {
        if (w.done()) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  }

  of(subscription: string): RoamEvent[] {
    return this.all.filter((n) => n.subscription === subscription).map((n) => n.event);
  }

  /** Resolves once `subscription` has received the event with this seq. */
  seen(subscription: string, seq: number): Promise<void> {
    const done = () => this.of(subscription).some((e) => e.seq === seq);
    if (done()) return Promise.resolve();
    return within(
      5_000,
      `event ${seq} on ${subscription}`,
      new Promise<void>((resolve) => this.#waiters.push({ done, resolve })),
    );
  }
}

async function subscribe(
  client: RpcWsClient,
  params: { since?: number; types?: string[] } = {},
): Promise<{ subscription: string; latest: number }> {
  return await client.call("events.subscribe", params) as { subscription: string; latest: number };
}

/** One turn of the event loop, so that socket traffic can move between appends. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

Deno.test("calls over a WebSocket are answered", async () => {
  await withHost({ name: "ws-calls" }, async (host) => {
    const client = await connect(host);
    try {
      const health = await client.call("host.health") as { ok: boolean };
      assert.equal(health.ok, true);
      const info = await client.call("host.info") as { name: string; id: string };
      assert.equal(info.name, "ws-calls");
      assert.equal(info.id, host.id);
      const page = await client.call("events.since", [0, 10]) as { events: RoamEvent[] };
      assert.equal(page.events[0].type, "host.started");
      await assert.rejects(client.call("no.such"), (e: RoamError) => e.code === "method_not_found");
    } finally {
      await client.close();
    }
  });
});

Deno.test("events.subscribe is refused over HTTP: it needs a WebSocket session", async () => {
  await withHost({}, async (host) => {
    const response = await fetch(`${host.url}/rpc`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${host.tokens.mint({ ttlMs: 60_000 })}`,
      },
      body: JSON.stringify({ jsonrpc: "2.0", method: "events.subscribe", params: {}, id: 1 }),
    });
    const body = await response.json();
    assert.equal(body.error.code, -32015);
    assert.equal(body.error.data.code, "unsupported");
  });
});

Deno.test("a subscription receives each new event as events.event, in seq order", async () => {
  await withHost({}, async (host) => {
    const client = await connect(host);
    try {
      const notes = new Notes(client);
      const { subscription, latest } = await subscribe(client);
      assert.equal(latest, host.events.bounds().latest);
      const appended = range(1, 5).map((i) => host.events.append("test.tick", { i }, `s${i}`));
      await notes.seen(subscription, appended.at(-1)!.seq);
      // Exactly the new events, whole, in order: nothing from before the subscription.
      assert.deepEqual(notes.of(subscription), appended);
      assert.deepEqual(
        notes.of(subscription).map((e) => e.seq),
        range(latest + 1, latest + 5),
      );
    } finally {
      await client.close();
    }
  });
});

Deno.test("subscribe with since 0 replays the kept events, then live ones, with no gap or repeat", async () => {
  await withHost({}, async (host) => {
    for (let i = 0; i < 3; i++) host.events.append("test.before", { i });
    const client = await connect(host);
    try {
      const notes = new Notes(client);
      const pending = subscribe(client, { since: 0 });
      let answered = false;
      pending.then(() => answered = true, () => answered = true);
      // Keep appending while the subscribe call is in flight, to hit the
      // window between the replay and the start of live delivery.
      for (let turns = 0; !answered && turns < 1_000; turns++) {
        host.events.append("test.during", { turns });
        await nextTurn();
      }
      const { subscription } = await pending;
      for (let i = 0; i < 3; i++) host.events.append("test.after", { i });
      const last = host.events.append("test.end").seq;
      await notes.seen(subscription, last);
      const seqs = notes.of(subscription).map((e) => e.seq);
      assert.deepEqual(seqs, range(1, last));
      assert.equal(notes.of(subscription)[0].type, "host.started");
    } finally {
      await client.close();
    }
  });
});

Deno.test("a types filter delivers exact types and prefixes ending in '.' only", async () => {
  await withHost({}, async (host) => {
    const client = await connect(host);
    try {
      const notes = new Notes(client);
      const prefixed = (await subscribe(client, { types: ["test."] })).subscription;
      const exact = (await subscribe(client, { types: ["other.thing"] })).subscription;
      const types = [
        "other.thing",
        "other.things",
        "test.a",
        "testing.b",
        "test.b.c",
        "host.x",
        "test",
      ];
      for (const type of types) {
        host.events.append(type);
      }
      const end = host.events.append("test.end").seq;
      // Notifications of all subscriptions share one socket in append order, so
      // once the last one has arrived for one, every earlier one has arrived.
      await notes.seen(prefixed, end);
      assert.deepEqual(notes.of(prefixed).map((e) => e.type), ["test.a", "test.b.c", "test.end"]);
      assert.deepEqual(notes.of(exact).map((e) => e.type), ["other.thing"]);
    } finally {
      await client.close();
    }
  });
});

Deno.test("events.unsubscribe stops delivery to that subscription only", async () => {
  await withHost({}, async (host) => {
    const client = await connect(host);
    try {
      const notes = new Notes(client);
      const stopped = (await subscribe(client)).subscription;
      const kept = (await subscribe(client)).subscription;
      const first = host.events.append("test.first").seq;
      await notes.seen(stopped, first);
      await notes.seen(kept, first);

      assert.deepEqual(await client.call("events.unsubscribe", { subscription: stopped }), {
        ok: true,
      });
      const second = host.events.append("test.second").seq;
      await notes.seen(kept, second);
      assert.deepEqual(notes.of(stopped).map((e) => e.seq), [first]);

      assert.deepEqual(await client.call("events.unsubscribe", [stopped]), { ok: false });
      assert.deepEqual(await client.call("events.unsubscribe", ["never-was"]), { ok: false });
    } finally {
      await client.close();
    }
  });
});

Deno.test("subscriptions beyond wsMaxSubscriptions on one socket get queue_full", async () => {
  await withHost({ limits: { wsMaxSubscriptions: 2 } }, async (host) => {
    const client = await connect(host);
    try {
      await subscribe(client);
      await subscribe(client);
      await assert.rejects(subscribe(client), (e: RoamError) => {
        assert.equal(e.code, "queue_full");
        assert.equal(e.data.limit, 2);
        return true;
      });
    } finally {
      await client.close();
    }
  });
});

Deno.test("subscriptions are released when their socket closes", async () => {
  // The event log takes at most 256 listeners. 17 sockets with 16
  // subscriptions each make 272: unless each closed socket gives its
  // subscriptions back, the last sockets' subscribes fail.
  const perSocket = 16;
  await withHost({ limits: { wsMaxSubscriptions: perSocket } }, async (host) => {
    for (let round = 0; round < 17; round++) {
      const client = await connect(host);
      try {
        const subs = await Promise.all(range(1, perSocket).map(() => subscribe(client)));
        assert.equal(new Set(subs.map((s) => s.subscription)).size, perSocket);
      } finally {
        await client.close();
      }
    }
    // Appending with every socket gone notifies no one and fails nothing.
    host.events.append("test.after_close");
    const client = await connect(host);
    try {
      const notes = new Notes(client);
      const { subscription } = await subscribe(client);
      const seq = host.events.append("test.fresh").seq;
      await notes.seen(subscription, seq);
    } finally {
      await client.close();
    }
  });
});

Deno.test("host.stop sends host.stopped to subscribers, closes their sockets with 1001, and does not hang", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-ws-" });
  try {
    const host = await startHost({ port: 0, dataDir }, { log: () => {} });
    let client: RpcWsClient | undefined;
    try {
      client = await connect(host);
      const notes = new Notes(client);
      const closed = new Promise<RoamError>((resolve) => client!.onClose(resolve));
      await subscribe(client);
      const { subscription } = await subscribe(client, { since: 0, types: ["host."] });
      await within(5_000, "host.stop", host.stop());
      const reason = await within(5_000, "the close", closed);
      assert.equal(reason.data.closeCode, 1001);
      assert.deepEqual(notes.of(subscription).map((e) => e.type), ["host.started", "host.stopped"]);
      await assert.rejects(client.call("host.health"), RoamError);
    } finally {
      await client?.close();
      await host.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
