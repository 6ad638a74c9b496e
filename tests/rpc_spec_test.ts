/**
 * JSON-RPC 2.0 conformance: every example of section 7 of the specification
 * (https://www.jsonrpc.org/specification#examples), sent as the exact JSON
 * text over a real HTTP server, plus roam's own rules for ids, params, error
 * mapping, time limits, batch size and result checking.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { ERROR_CODE_NAMES, ERROR_CODES, type ErrorCode, RoamError } from "../src/errors/mod.ts";
import {
  type AuthResult,
  createHttpRpcHandler,
  defineMethod,
  Dispatcher,
  implement,
  type MethodContract,
  type MethodImpl,
} from "../src/rpc/mod.ts";

const TOKEN = "test-token";

/** What the spec's notification methods were called with, to prove they ran. */
interface Calls {
  update: unknown[];
  notifyHello: unknown[];
  slowAborted: unknown[];
  internal: { error: unknown; reference: string }[];
}

/**
 * The spec's methods have undotted names (`subtract`, `get_data`) that
 * `defineMethod` rejects, since it enforces roam's `subsystem.verb` naming.
 * `MethodContract` is a plain readonly record and `implement` only binds a
 * contract to its handler, so the spec's contracts are written out directly
 * as objects: the names on the wire stay exactly the spec's, and the
 * dispatcher (which never looks at the naming rule) serves them as it would
 * any other method. The roam-specific test methods are dotted, so they go
 * through `defineMethod` as real code would.
 */
function contract(spec: MethodContract): MethodContract {
  return Object.freeze({ ...spec });
}

function specMethods(calls: Calls): MethodImpl[] {
  return [
    implement(
      contract({
        name: "subtract",
        summary: "minuend - subtrahend",
        params: z.object({ minuend: z.number(), subtrahend: z.number() }).strict(),
        positional: ["minuend", "subtrahend"],
        result: z.number(),
      }),
      (p) => {
        const { minuend, subtrahend } = p as { minuend: number; subtrahend: number };
        return minuend - subtrahend;
      },
    ),
    implement(
      contract({
        name: "sum",
        summary: "the sum of numbers",
        params: z.array(z.number()),
        result: z.number(),
      }),
      (p) => (p as number[]).reduce((a, b) => a + b, 0),
    ),
    implement(
      contract({
        name: "update",
        summary: "records its params",
        params: z.array(z.unknown()),
        result: z.null(),
      }),
      (p) => {
        calls.update.push(p);
        return null;
      },
    ),
    implement(
      contract({
        name: "notify_hello",
        summary: "records its params",
        params: z.array(z.number()),
        result: z.null(),
      }),
      (p) => {
        calls.notifyHello.push(p);
        return null;
      },
    ),
    implement(
      contract({
        name: "get_data",
        summary: "fixed data",
        params: z.object({}).strict(),
        result: z.tuple([z.string(), z.number()]),
      }),
      () => ["hello", 5],
    ),
    implement(
      defineMethod({
        name: "fail.with",
        summary: "throws a RoamError with the given code",
        params: z.object({ code: z.enum(ERROR_CODE_NAMES as [ErrorCode, ...ErrorCode[]]) }),
        result: z.never(),
      }),
      (p) => {
        const { code } = p as { code: ErrorCode };
        throw new RoamError(code, `failed on purpose with ${code}`, { detail: code.length });
      },
    ),
    implement(
      defineMethod({
        name: "fail.plain",
        summary: "throws a plain Error whose text must not leak",
        params: z.object({}),
        result: z.never(),
      }),
      () => {
        throw new Error("connection string postgres://admin:hunter2@db");
      },
    ),
    implement(
      defineMethod({
        name: "slow.wait",
        summary: "waits until its call is aborted",
        params: z.object({}),
        result: z.null(),
        timeoutMs: 50,
      }),
      (_p, ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener("abort", () => {
            calls.slowAborted.push(ctx.signal.reason);
            reject(ctx.signal.reason);
          }, { once: true });
        }),
    ),
    implement(
      defineMethod({
        name: "bad.result",
        summary: "returns a result that fails its schema",
        params: z.object({}),
        result: z.number(),
      }),
      // The cast stands for a handler whose types lie (JSON from elsewhere, an `any`).
      () => "not a number, secret-result-text" as unknown as number,
    ),
  ];
}

function authenticate(token: string | null): AuthResult {
  if (token === TOKEN) return { ok: true, subject: "tester", expiresAt: Date.now() + 3_600_000 };
  return {
    ok: false,
    error: new RoamError("unauthorized", "unauthorized", { reason: token ? "invalid" : "missing" }),
  };
}

interface Reply {
  status: number;
  contentType: string | null;
  text: string;
  // deno-lint-ignore no-explicit-any
  body: any;
}

interface Server {
  calls: Calls;
  post(text: string): Promise<Reply>;
}

async function withRpcServer(
  options: { maxBatch?: number },
  fn: (server: Server) => Promise<void>,
): Promise<void> {
  const calls: Calls = { update: [], notifyHello: [], slowAborted: [], internal: [] };
  const dispatcher = new Dispatcher({
    methods: specMethods(calls),
    maxBatch: options.maxBatch,
    onInternalError: (error, reference) => calls.internal.push({ error, reference }),
  });
  const handler = createHttpRpcHandler({
    dispatcher,
    authenticate,
    limits: { maxBytes: 1024 * 1024, timeoutMs: 10_000 },
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const url = `http://127.0.0.1:${server.addr.port}/rpc`;
  const post = async (text: string): Promise<Reply> => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
      body: text,
    });
    const body = await response.text();
    return {
      status: response.status,
      contentType: response.headers.get("content-type"),
      text: body,
      body: body === "" ? undefined : JSON.parse(body),
    };
  };
  try {
    await fn({ calls, post });
  } finally {
    await server.shutdown();
  }
}

type SpecResponse =
  | { jsonrpc: "2.0"; result: unknown; id: unknown }
  | { jsonrpc: "2.0"; error: { code: number; message: string }; id: unknown };

/**
 * Compare a response with the spec's: same id, same result, or an error with
 * the same code. The spec's error messages are examples ("Method not found"),
 * so roam's own message need only be a non-empty string. No member beyond
 * jsonrpc, id and exactly one of result and error may appear.
 */
// deno-lint-ignore no-explicit-any
function assertSpecResponse(actual: any, expected: SpecResponse): void {
  assert.equal(typeof actual, "object");
  assert.ok(actual !== null && !Array.isArray(actual), `not a response object: ${actual}`);
  assert.equal(actual.jsonrpc, "2.0");
  assert.deepEqual(actual.id, expected.id);
  if ("result" in expected) {
    assert.deepEqual(Object.keys(actual).sort(), ["id", "jsonrpc", "result"]);
    assert.deepEqual(actual.result, expected.result);
  } else {
    assert.deepEqual(Object.keys(actual).sort(), ["error", "id", "jsonrpc"]);
    assert.equal(actual.error.code, expected.error.code, JSON.stringify(actual.error));
    assert.equal(typeof actual.error.message, "string");
    assert.ok(actual.error.message.length > 0);
  }
}

async function assertSpecExchange(server: Server, request: string, expected: SpecResponse) {
  const reply = await server.post(request);
  assert.equal(reply.status, 200, reply.text);
  assert.match(reply.contentType ?? "", /^application\/json/);
  assertSpecResponse(reply.body, expected);
}

// deno-lint-ignore no-explicit-any
function byId(responses: any[]): Map<string, any> {
  const map = new Map();
  for (const r of responses) {
    const key = JSON.stringify(r.id);
    assert.ok(!map.has(key), `two responses with id ${key}`);
    map.set(key, r);
  }
  return map;
}

// --- Section 7 of the specification, example by example ---

Deno.test("spec: rpc call with positional parameters", async () => {
  await withRpcServer({}, async (server) => {
    await assertSpecExchange(
      server,
      `{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}`,
      { jsonrpc: "2.0", result: 19, id: 1 },
    );
    await assertSpecExchange(
      server,
      `{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}`,
      { jsonrpc: "2.0", result: -19, id: 2 },
    );
  });
});

Deno.test("spec: rpc call with named parameters, in either order", async () => {
  await withRpcServer({}, async (server) => {
    await assertSpecExchange(
      server,
      `{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}`,
      { jsonrpc: "2.0", result: 19, id: 3 },
    );
    await assertSpecExchange(
      server,
      `{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}`,
      { jsonrpc: "2.0", result: 19, id: 4 },
    );
  });
});

Deno.test("spec: a notification runs but gets no reply (HTTP 204, empty body)", async () => {
  await withRpcServer({}, async (server) => {
    const update = await server.post(
      `{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}`,
    );
    assert.equal(update.status, 204);
    assert.equal(update.text, "");
    assert.deepEqual(server.calls.update, [[1, 2, 3, 4, 5]]);

    const foobar = await server.post(`{"jsonrpc": "2.0", "method": "foobar"}`);
    assert.equal(foobar.status, 204);
    assert.equal(foobar.text, "");
  });
});

Deno.test("spec: rpc call of a non-existent method is -32601 with the request's id", async () => {
  await withRpcServer({}, async (server) => {
    await assertSpecExchange(server, `{"jsonrpc": "2.0", "method": "foobar", "id": "1"}`, {
      jsonrpc: "2.0",
      error: { code: -32601, message: "Method not found" },
      id: "1",
    });
  });
});

Deno.test("spec: rpc call with invalid JSON is -32700 with id null", async () => {
  await withRpcServer({}, async (server) => {
    await assertSpecExchange(
      server,
      `{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]`,
      { jsonrpc: "2.0", error: { code: -32700, message: "Parse error" }, id: null },
    );
  });
});

Deno.test("spec: rpc call with an invalid Request object is -32600 with id null", async () => {
  await withRpcServer({}, async (server) => {
    await assertSpecExchange(server, `{"jsonrpc": "2.0", "method": 1, "params": "bar"}`, {
      jsonrpc: "2.0",
      error: { code: -32600, message: "Invalid Request" },
      id: null,
    });
  });
});

Deno.test("spec: rpc call batch with invalid JSON is one -32700 error", async () => {
  await withRpcServer({}, async (server) => {
    await assertSpecExchange(
      server,
      `[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]`,
      { jsonrpc: "2.0", error: { code: -32700, message: "Parse error" }, id: null },
    );
  });
});

Deno.test("spec: rpc call with an empty array is one -32600 error object, not an array", async () => {
  await withRpcServer({}, async (server) => {
    await assertSpecExchange(server, `[]`, {
      jsonrpc: "2.0",
      error: { code: -32600, message: "Invalid Request" },
      id: null,
    });
  });
});

Deno.test("spec: an invalid batch of one is an array of one -32600 error", async () => {
  await withRpcServer({}, async (server) => {
    const reply = await server.post(`[1]`);
    assert.equal(reply.status, 200);
    assert.ok(Array.isArray(reply.body), reply.text);
    assert.equal(reply.body.length, 1);
    assertSpecResponse(reply.body[0], {
      jsonrpc: "2.0",
      error: { code: -32600, message: "Invalid Request" },
      id: null,
    });
  });
});

Deno.test("spec: an invalid batch of three is an array of three -32600 errors", async () => {
  await withRpcServer({}, async (server) => {
    const reply = await server.post(`[1,2,3]`);
    assert.equal(reply.status, 200);
    assert.ok(Array.isArray(reply.body), reply.text);
    assert.equal(reply.body.length, 3);
    for (const response of reply.body) {
      assertSpecResponse(response, {
        jsonrpc: "2.0",
        error: { code: -32600, message: "Invalid Request" },
        id: null,
      });
    }
  });
});

Deno.test("spec: a mixed batch answers every call but the notification", async () => {
  await withRpcServer({}, async (server) => {
    const reply = await server.post(`[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"} 
    ]`);
    assert.equal(reply.status, 200);
    assert.ok(Array.isArray(reply.body), reply.text);
    const expected: SpecResponse[] = [
      { jsonrpc: "2.0", result: 7, id: "1" },
      { jsonrpc: "2.0", result: 19, id: "2" },
      { jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" }, id: null },
      { jsonrpc: "2.0", error: { code: -32601, message: "Method not found" }, id: "5" },
      { jsonrpc: "2.0", result: ["hello", 5], id: "9" },
    ];
    // The spec lets a server answer a batch in any order: compare by id.
    const actual = byId(reply.body);
    assert.deepEqual([...actual.keys()].sort(), expected.map((e) => JSON.stringify(e.id)).sort());
    for (const e of expected) assertSpecResponse(actual.get(JSON.stringify(e.id)), e);
    assert.deepEqual(server.calls.notifyHello, [[7]]);
  });
});

Deno.test("spec: a batch of notifications only returns nothing", async () => {
  await withRpcServer({}, async (server) => {
    const reply = await server.post(`[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]`);
    assert.equal(reply.status, 204);
    assert.equal(reply.text, "");
    assert.deepEqual(server.calls.notifyHello, [[7]]);
  });
});

// --- roam's own rules on top of the specification ---

Deno.test("every legal id type is echoed back unchanged", async () => {
  await withRpcServer({}, async (server) => {
    const ids = ["abc", "", "1", 0, 7, -3, 1.5, -0.25, 9007199254740991, null];
    for (const id of ids) {
      const reply = await server.post(
        JSON.stringify({ jsonrpc: "2.0", method: "sum", params: [1, 2], id }),
      );
      assert.equal(reply.status, 200, reply.text);
      assertSpecResponse(reply.body, { jsonrpc: "2.0", result: 3, id });
      // The id must come back as the same JSON token, not re-typed.
      assert.equal(JSON.stringify(reply.body.id), JSON.stringify(id));
    }
  });
});

Deno.test("the id of an error reply is the request's id when it can be read", async () => {
  await withRpcServer({}, async (server) => {
    for (const id of ["x", 12, -1.5, null]) {
      const reply = await server.post(JSON.stringify({ jsonrpc: "2.0", method: "nope", id }));
      assertSpecResponse(reply.body, {
        jsonrpc: "2.0",
        error: { code: -32601, message: "" },
        id,
      });
    }
    // An invalid Request object whose id is still legible gets that id back;
    // an illegible id (an object) is null, as the spec requires.
    const wrongVersion = await server.post(`{"jsonrpc": "1.0", "method": "sum", "id": 7}`);
    assertSpecResponse(wrongVersion.body, {
      jsonrpc: "2.0",
      error: { code: -32600, message: "" },
      id: 7,
    });
    const objectId = await server.post(`{"jsonrpc": "2.0", "method": "sum", "id": {"a": 1}}`);
    assertSpecResponse(objectId.body, {
      jsonrpc: "2.0",
      error: { code: -32600, message: "" },
      id: null,
    });
  });
});

Deno.test("params that fail the schema are -32602 with the zod issues in data.issues", async () => {
  await withRpcServer({}, async (server) => {
    const reply = await server.post(
      `{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": "42"}, "id": 1}`,
    );
    assertSpecResponse(reply.body, {
      jsonrpc: "2.0",
      error: { code: -32602, message: "" },
      id: 1,
    });
    const { data } = reply.body.error;
    assert.equal(data.code, "invalid_params");
    assert.equal(data.method, "subtract");
    assert.ok(Array.isArray(data.issues));
    const paths = data.issues.map((i: { path: unknown[] }) => i.path.join("."));
    assert.deepEqual(paths.sort(), ["minuend", "subtrahend"]);
    for (const issue of data.issues) {
      assert.equal(typeof issue.code, "string");
      assert.equal(typeof issue.message, "string");
    }
  });
});

Deno.test("more positional params than the method names are -32602", async () => {
  await withRpcServer({}, async (server) => {
    const reply = await server.post(
      `{"jsonrpc": "2.0", "method": "subtract", "params": [1, 2, 3], "id": 1}`,
    );
    assertSpecResponse(reply.body, { jsonrpc: "2.0", error: { code: -32602, message: "" }, id: 1 });
    assert.equal(reply.body.error.data.code, "invalid_params");
  });
});

Deno.test("a RoamError thrown by a method maps to its ERROR_CODES number with data.code", async () => {
  await withRpcServer({}, async (server) => {
    const codes = Object.keys(ERROR_CODES) as ErrorCode[];
    const reply = await server.post(JSON.stringify(
      codes.map((code, i) => ({ jsonrpc: "2.0", method: "fail.with", params: { code }, id: i })),
    ));
    assert.equal(reply.status, 200);
    const responses = byId(reply.body);
    assert.equal(responses.size, codes.length);
    codes.forEach((code, i) => {
      const { error } = responses.get(JSON.stringify(i));
      assert.equal(error.code, ERROR_CODES[code], code);
      assert.equal(error.message, `failed on purpose with ${code}`);
      assert.deepEqual(error.data, { code, detail: code.length });
    });
    assert.equal(server.calls.internal.length, 0);
  });
});

Deno.test("a plain Error is -32603 and its text does not reach the caller", async () => {
  await withRpcServer({}, async (server) => {
    const reply = await server.post(`{"jsonrpc": "2.0", "method": "fail.plain", "id": 1}`);
    assertSpecResponse(reply.body, { jsonrpc: "2.0", error: { code: -32603, message: "" }, id: 1 });
    assert.ok(!reply.text.includes("hunter2"), reply.text);
    assert.ok(!reply.text.includes("postgres"), reply.text);
    assert.equal(reply.body.error.data.code, "internal");
    // The reference in the reply is the one the host's log got with the real error.
    assert.equal(server.calls.internal.length, 1);
    const [logged] = server.calls.internal;
    assert.equal(reply.body.error.data.reference, logged.reference);
    assert.ok(reply.body.error.message.includes(logged.reference));
    assert.match((logged.error as Error).message, /hunter2/);
  });
});

Deno.test("a method that runs past its timeoutMs gets the timeout code and its signal aborts", async () => {
  await withRpcServer({}, async (server) => {
    const reply = await server.post(`{"jsonrpc": "2.0", "method": "slow.wait", "id": "t"}`);
    assertSpecResponse(reply.body, {
      jsonrpc: "2.0",
      error: { code: ERROR_CODES.timeout, message: "" },
      id: "t",
    });
    assert.equal(reply.body.error.data.code, "timeout");
    assert.equal(reply.body.error.data.timeoutMs, 50);
    assert.equal(reply.body.error.data.method, "slow.wait");
    assert.equal(server.calls.slowAborted.length, 1);
    assert.ok(server.calls.slowAborted[0] instanceof RoamError);
    assert.equal((server.calls.slowAborted[0] as RoamError).code, "timeout");
  });
});

Deno.test("a batch over maxBatch is one -32600 error object; a batch at the limit runs", async () => {
  await withRpcServer({ maxBatch: 3 }, async (server) => {
    const call = (id: number) => ({ jsonrpc: "2.0", method: "sum", params: [id], id });
    const atLimit = await server.post(JSON.stringify([call(1), call(2), call(3)]));
    assert.ok(Array.isArray(atLimit.body));
    assert.equal(atLimit.body.length, 3);

    const over = await server.post(JSON.stringify([call(1), call(2), call(3), call(4)]));
    assert.equal(over.status, 200);
    assert.ok(!Array.isArray(over.body), over.text);
    assertSpecResponse(over.body, {
      jsonrpc: "2.0",
      error: { code: -32600, message: "" },
      id: null,
    });
    assert.equal(over.body.error.data.size, 4);
    assert.equal(over.body.error.data.limit, 3);
  });
});

Deno.test("a result that fails its schema is -32603 and is not sent", async () => {
  await withRpcServer({}, async (server) => {
    const reply = await server.post(`{"jsonrpc": "2.0", "method": "bad.result", "id": 1}`);
    assertSpecResponse(reply.body, { jsonrpc: "2.0", error: { code: -32603, message: "" }, id: 1 });
    assert.ok(!reply.text.includes("secret-result-text"), reply.text);
    assert.equal(server.calls.internal.length, 1);
  });
});
