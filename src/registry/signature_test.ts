import assert from "node:assert/strict";
import { isRoamError } from "../errors/mod.ts";
import { generateSigningKey, signIndex, verifyIndex } from "./signature.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("a signed index verifies and names its publisher key", () => {
  const { privatePem, publicKey } = generateSigningKey();
  const index = bytes('{"format":"roam-registry/1","plugins":[]}\n');
  const sig = bytes(signIndex(index, privatePem));
  assert.equal(verifyIndex(index, sig, "test"), publicKey);
  assert.match(publicKey, /^ed25519:[A-Za-z0-9_-]{43}$/);
});

Deno.test("one changed byte of the index, or another key's signature, fails verification", () => {
  const a = generateSigningKey();
  const index = bytes('{"format":"roam-registry/1","plugins":[]}\n');
  const sig = JSON.parse(signIndex(index, a.privatePem));
  const changed = bytes('{"format":"roam-registry/1","plugins":[] }\n');
  assert.throws(
    () => verifyIndex(changed, bytes(JSON.stringify(sig)), "test"),
    (e) => isRoamError(e, "unavailable") && e.data?.tampered === true,
  );
  const b = generateSigningKey();
  const swapped = { ...sig, key: b.publicKey };
  assert.throws(() => verifyIndex(index, bytes(JSON.stringify(swapped)), "test"), /does not match/);
  assert.throws(
    () => verifyIndex(index, bytes("{}"), "test"),
    (e) => isRoamError(e, "invalid_input"),
  );
});

Deno.test("only ed25519 keys sign indexes", () => {
  assert.throws(() => signIndex(bytes("{}"), "not a key"), (e) => isRoamError(e, "invalid_input"));
});
