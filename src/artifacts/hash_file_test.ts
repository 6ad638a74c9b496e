import assert from "node:assert/strict";
import { sha256File } from "./hash_file.ts";

Deno.test("sha256File hashes a file as sha256sum does, across several reads", async () => {
  const path = await Deno.makeTempFile();
  try {
    const bytes = new Uint8Array(9 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 255);
    await Deno.writeFile(path, bytes);
    const expected = new TextDecoder().decode(
      (await new Deno.Command("sha256sum", { args: [path], stdout: "piped" }).output()).stdout,
    ).split(" ")[0];
    assert.equal(await sha256File(path), expected);
  } finally {
    await Deno.remove(path);
  }
});
