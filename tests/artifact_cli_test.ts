/**
 * `roam artifact` against a host on loopback: put a file, get it back
 * checked, resume a download whose output file is partly there, stream
 * through standard input and output, a progress bar on request, and usage
 * errors.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { roam } from "./support/cli.ts";
import { startTestHost } from "./support/host.ts";

const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

Deno.test("roam artifact put, get (resumed), ls, pin, rm, and - for stdin and stdout", async () => {
  await using t = await startTestHost();
  const dir = await Deno.makeTempDir({ prefix: "roam-artifact-cli-" });
  try {
    const g = ["--host", t.host.url, "--token", t.token];
    const data = new Uint8Array(6 * 1024 * 1024 + 5);
    for (let i = 0; i < data.length; i += 65536) {
      crypto.getRandomValues(data.subarray(i, i + 65536));
    }
    const hash = sha(data);
    await Deno.writeFile(join(dir, "in.bin"), data);

    const put = await roam([...g, "artifact", "put", join(dir, "in.bin"), "--progress"]);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(put.stdout.trim(), hash);
    assert.match(put.stderr, /100%/, "a progress bar for a transfer above 4 MiB");

    const got = await roam([...g, "artifact", "get", hash, "-o", join(dir, "out.bin")]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(sha(await Deno.readFile(join(dir, "out.bin"))), hash);

    // An interrupted download leaves the start of the file; get resumes it.
    await Deno.writeFile(join(dir, "part.bin"), data.subarray(0, 1_000_000));
    const resumed = await roam([...g, "artifact", "get", hash, "-o", join(dir, "part.bin")]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resumed at byte 1000000/);
    assert.equal(sha(await Deno.readFile(join(dir, "part.bin"))), hash);
    // A file that is not the start of the blob is caught by the hash check.
    await Deno.writeFile(join(dir, "other.bin"), new Uint8Array(1000).fill(7));
    const wrong = await roam([...g, "artifact", "get", hash, "-o", join(dir, "other.bin")]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /remove it and download again/);

    const piped = await roam(
      [...g, "artifact", "put", "-", "--name", "note.txt", "--expires", "1h"],
      {},
      "hello\n",
    );
    assert.equal(piped.code, 0, piped.stderr);
    const note = piped.stdout.trim();
    const out = await roam([...g, "artifact", "get", note, "-o", "-"]);
    assert.equal(out.stdout, "hello\n");

    const ls = await roam([...g, "--json", "artifact", "ls"]);
    const listed = JSON.parse(ls.stdout);
    assert.deepEqual(listed.artifacts.map((a: { name: string }) => a.name).sort(), [
      "in.bin",
      "note.txt",
    ]);
    assert.equal((await roam([...g, "artifact", "pin", hash])).code, 0);
    const refused = await roam([...g, "artifact", "rm", hash]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /pinned by user/);
    assert.equal((await roam([...g, "artifact", "rm", hash, "--force"])).code, 0);

    const usage = await roam([...g, "artifact", "get", hash]);
    assert.equal(usage.code, 2, "-o is required");
    const bad = await roam([...g, "artifact", "get", "nothex", "-o", "-"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not a sha256/);
    const missing = await roam([...g, "artifact", "get", hash, "-o", "-"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no blob/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
