import assert from "node:assert/strict";
import { deriveMeshKey, MeshKeyring, newNonce, open, seal } from "./crypto.ts";

const secretA = new Uint8Array(32).fill(1);
const secretB = new Uint8Array(32).fill(2);
const text = new TextEncoder().encode("hello mesh");
const aad = new TextEncoder().encode("header");

Deno.test("the gossip key is derived from the secret: the same secret gives the same key and id", () => {
  const a1 = deriveMeshKey(secretA);
  const a2 = deriveMeshKey(secretA);
  const b = deriveMeshKey(secretB);
  assert.deepEqual(a1.key, a2.key);
  assert.equal(a1.idHex, a2.idHex);
  assert.notDeepEqual(a1.key, b.key);
  assert.notEqual(a1.idHex, b.idHex);
  assert.equal(a1.key.length, 32);
  assert.equal(a1.id.length, 4);
  // The key is not the secret, and the id is not a prefix of the key.
  assert.notDeepEqual(a1.key, secretA);
  assert.notDeepEqual(a1.id, a1.key.subarray(0, 4));
});

Deno.test("sealed bytes open with the same key, nonce and header only", () => {
  const key = deriveMeshKey(secretA);
  const nonce = newNonce();
  const sealed = seal(key, nonce, aad, text);
  assert.equal(sealed.length, text.length + 16);
  assert.deepEqual(open(key, nonce, aad, sealed), text);
  assert.equal(open(deriveMeshKey(secretB), nonce, aad, sealed), null);
  assert.equal(open(key, newNonce(), aad, sealed), null);
  assert.equal(open(key, nonce, new TextEncoder().encode("other"), sealed), null);
  for (const at of [0, text.length - 1, sealed.length - 1]) {
    const tampered = sealed.slice();
    tampered[at] ^= 1;
    assert.equal(open(key, nonce, aad, tampered), null, `byte ${at} flipped`);
  }
  assert.equal(open(key, nonce, aad, sealed.subarray(0, 10)), null);
});

Deno.test("a keyring seals with the new key after rotation and still opens the previous one", () => {
  const keys = new MeshKeyring(secretA);
  const first = keys.current;
  assert.equal(keys.previous?.idHex ?? null, null);
  assert.equal(keys.find(first.id), first);
  assert.equal(keys.rotate(secretA), false, "the same secret is no rotation");
  assert.equal(keys.rotate(secretB), true);
  assert.equal(keys.current.idHex, deriveMeshKey(secretB).idHex);
  assert.equal(keys.previous?.idHex, first.idHex);
  assert.equal(keys.find(first.id)?.idHex, first.idHex);
  assert.equal(keys.find(keys.current.id)?.idHex, keys.current.idHex);
  // A third secret pushes the first key out.
  keys.rotate(new Uint8Array(32).fill(3));
  assert.equal(keys.find(first.id), undefined);
  assert.equal(keys.find(new Uint8Array([0, 0, 0, 0])), undefined);
});

Deno.test("a key accepted ahead of use opens packets but does not seal until rotation", () => {
  const keys = new MeshKeyring(secretA);
  const old = keys.current;
  const next = deriveMeshKey(secretB);
  assert.equal(keys.accept(secretA), false, "the current key needs no accepting");
  assert.equal(keys.accept(secretB), true);
  assert.equal(keys.current.idHex, old.idHex, "still sealing with the old key");
  assert.equal(keys.find(next.id)?.idHex, next.idHex);
  assert.equal(keys.rotate(secretB), true);
  assert.equal(keys.current.idHex, next.idHex);
  assert.equal(keys.previous?.idHex, old.idHex);
  assert.equal(keys.next, null);
});
