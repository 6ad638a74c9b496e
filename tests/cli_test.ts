import assert from "node:assert/strict";
import { join } from "node:path";
import { CliProcess, roam } from "./support/cli.ts";

/** Run a test against a `roam host` process on a free port with its own data dir. */
async function withHost(
  fn: (ctx: { dataDir: string; url: string; host: CliProcess }) => Promise<void>,
  extra: string[] = [],
) {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-cli-" });
  const host = new CliProcess([
    "--data-dir",
    dataDir,
    "host",
    "--port",
    "0",
    "--name",
    "cli-test",
    ...extra,
  ]);
  try {
    const [, url] = await host.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    await fn({ dataDir, url, host });
  } finally {
    await host.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

const noStack = (text: string) =>
  assert.doesNotMatch(text, /^\s+at /m, `a stack trace leaked:\n${text}`);

Deno.test("roam host answers 'roam rpc host.health' and stops cleanly on SIGTERM", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-cli-" });
  try {
    const host = new CliProcess([
      "--data-dir",
      dataDir,
      "host",
      "--port",
      "0",
      "--tag",
      "gpu",
      "--property",
      "rack=2",
    ]);
    await host.waitFor(/listening on/);
    const health = await roam(["--data-dir", dataDir, "rpc", "host.health"]);
    assert.equal(health.code, 0, health.stderr);
    assert.deepEqual(JSON.parse(health.stdout), { ok: true, version: "0.1.0" });
    const status = await host.stop("SIGTERM");
    assert.equal(status.code, 0);
    assert.match(host.output, /stopped \(received SIGTERM\)/);
    await assert.rejects(() => Deno.stat(join(dataDir, "host.json")));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("roam host stops cleanly on SIGINT and records the stop in the event log", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-cli-" });
  try {
    const first = new CliProcess(["--data-dir", dataDir, "host", "--port", "0"]);
    await first.waitFor(/listening on/);
    assert.equal((await first.stop("SIGINT")).code, 0);
    const second = new CliProcess(["--data-dir", dataDir, "host", "--port", "0"]);
    try {
      await second.waitFor(/listening on/);
      const events = await roam(["--data-dir", dataDir, "--json", "events", "--since", "0"]);
      assert.equal(events.code, 0, events.stderr);
      const types = JSON.parse(events.stdout).map((e: { type: string }) => e.type);
      assert.deepEqual(types, ["host.started", "host.stopped", "host.started"]);
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("roam status prints a readable summary, and JSON with --json", async () => {
  await withHost(async ({ dataDir }) => {
    const text = await roam(["--data-dir", dataDir, "status"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^name\s+cli-test$/m);
    assert.match(text.stdout, /^tags\s+gpu$/m);
    assert.match(text.stdout, /^properties\s+rack=2$/m);
    const json = await roam(["--data-dir", dataDir, "status", "--json"]);
    assert.equal(JSON.parse(json.stdout).name, "cli-test");
  }, ["--tag", "gpu", "--property", "rack=2"]);
});

Deno.test("a token from 'roam token' works with --host and --token, and through ROAM_HOST and ROAM_TOKEN", async () => {
  await withHost(async ({ dataDir, url }) => {
    const minted = await roam([
      "--data-dir",
      dataDir,
      "token",
      "--ttl",
      "5m",
      "--subject",
      "laptop",
    ]);
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    assert.match(token, /^roam1\.[\w-]+\.[\w-]+$/);
    // From "another machine": no data dir with a secret, so only the token grants access.
    const elsewhere = { HOME: "/nonexistent", ROAM_DATA_DIR: "/nonexistent/roam" };
    const flags = await roam(["--host", url, "--token", token, "--json", "status"], elsewhere);
    assert.equal(flags.code, 0, flags.stderr);
    const env = await roam(["status", "--json"], {
      ...elsewhere,
      ROAM_HOST: url,
      ROAM_TOKEN: token,
    });
    assert.equal(env.code, 0, env.stderr);
    const none = await roam(["--host", url, "status"], elsewhere);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^roam: unauthorized: send 'Authorization: Bearer TOKEN'/);
    noStack(none.stderr);
  });
});

Deno.test("roam events lists the log as a table and follows new events until interrupted", async () => {
  await withHost(async ({ dataDir }) => {
    const table = await roam(["--data-dir", dataDir, "events"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^SEQ\s+TIME\s+TYPE\s+SUBJECT\s+DATA$/m);
    assert.match(table.stdout, /^1\s+\S+ \S+\s+host\.started/m);
    const follow = new CliProcess(["--data-dir", dataDir, "events", "--follow", "--since", "0"]);
    await follow.waitFor(/^1\s+\S+\s+host\.started/);
    const status = await follow.stop("SIGINT");
    assert.equal(status.code, 0, follow.output);
  });
});

Deno.test("roam rpc takes params as JSON, by position, or from standard input", async () => {
  await withHost(async ({ dataDir }) => {
    const named = await roam([
      "--data-dir",
      dataDir,
      "rpc",
      "events.since",
      '{"since":0,"limit":1}',
    ]);
    assert.equal(JSON.parse(named.stdout).events.length, 1);
    const positional = await roam(
      ["--data-dir", dataDir, "rpc", "events.since", "-"],
      {},
      "[0, 1]",
    );
    assert.equal(JSON.parse(positional.stdout).events[0].type, "host.started");
    const bad = await roam(["--data-dir", dataDir, "rpc", "events.since", "{nope"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^roam: params are not valid JSON/);
    const invalid = await roam(["--data-dir", dataDir, "rpc", "events.since", '{"limit":0}']);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /^roam: invalid params for events\.since at limit/);
    const missing = await roam(["--data-dir", dataDir, "rpc", "no.such"]);
    assert.match(missing.stderr, /^roam: method not found: no\.such/);
  });
});

Deno.test("user errors are one line and a non-zero status, never a stack trace", async () => {
  const cases: [string[], number, RegExp][] = [
    [["--bogus"], 2, /^roam: unknown option '--bogus'/],
    [["hots"], 2, /^roam: unknown command 'hots'/],
    [
      ["--host", "http://127.0.0.1:9", "status"],
      1,
      /^roam: cannot reach a roam host at http:\/\/127\.0\.0\.1:9/,
    ],
    [["--host", "ftp://x", "status"], 2, /^roam: host URL must be http\(s\)/],
    [["host", "--port", "99999"], 2, /^roam: --port must be a whole number/],
    [["host", "--property", "novalue"], 2, /^roam: --property takes key=value/],
    [
      ["host", "--bind", "nowhere", "--data-dir", "/tmp/unused"],
      2,
      /^roam: invalid host configuration/,
    ],
    [["token", "--ttl", "forever"], 2, /is not a duration/],
  ];
  const home = await Deno.makeTempDir();
  for (const [args, code, pattern] of cases) {
    const result = await roam(args, { HOME: home });
    assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr.trim(), pattern);
    assert.equal(
      result.stderr.trim().split("\n").length,
      1,
      `more than one line for ${args.join(" ")}:\n${result.stderr}`,
    );
    noStack(result.stderr);
  }
  await Deno.remove(home, { recursive: true });
});

Deno.test("--help explains every command with examples", async () => {
  const top = await roam(["--help"]);
  assert.equal(top.code, 0);
  for (const command of ["host", "status", "events", "token", "rpc"]) {
    assert.match(top.stdout, new RegExp(`^\\s+${command}\\b`, "m"));
  }
  const host = await roam(["host", "--help"]);
  for (
    const flag of [
      "--name",
      "--bind",
      "--port",
      "--data-dir",
      "--tag",
      "--property",
      "--secret-file",
    ]
  ) {
    assert.match(host.stdout, new RegExp(flag));
  }
  assert.match(host.stdout, /Examples:/);
});
