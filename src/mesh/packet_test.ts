import assert from "node:assert/strict";
import { MeshKeyring, newNonce, seal } from "./crypto.ts";
import {
  decodePacket,
  encodePacket,
  type Envelope,
  HEADER_BYTES,
  MAX_PACKET_BYTES,
  updateBudget,
  updateBytes,
  type WireMember,
} from "./packet.ts";

const keys = new MeshKeyring(new Uint8Array(32).fill(9));
const member = (i: number, s: WireMember["s"] = "a"): WireMember => ({
  i: crypto.randomUUID(),
  n: `host-${i}`,
  u: `http://10.200.0.${i}:7420`,
  g: 7420,
  e: 3,
  c: i,
  s,
});
const ping = (): Envelope => ({
  k: "ping",
  f: member(1),
  q: 1,
  t: Date.now(),
  p: 7,
  m: { l: [0.5, 0.4, 0.3], f: 2048, t: 8192, g: [] },
});

Deno.test("a packet round-trips: versioned header, encrypted body, validated envelope", () => {
  const env = ping();
  const packet = encodePacket(keys.current, env);
  assert.deepEqual([...packet.subarray(0, 4)], [0x52, 0x4d, 1, 0]);
  assert.deepEqual(packet.subarray(4, 8), keys.current.id);
  assert.equal(new TextDecoder().decode(packet).includes("host-1"), false, "the body is encrypted");
  const decoded = decodePacket(keys, packet);
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.envelope, env);
  // Two packets of the same envelope differ (fresh nonce).
  assert.notDeepEqual(encodePacket(keys.current, env), packet);
});

Deno.test("bad packets are refused with a reason, never an exception", () => {
  const good = encodePacket(keys.current, ping());
  const reason = (bytes: Uint8Array) => {
    const d = decodePacket(keys, bytes);
    return d.ok ? "ok" : d.reason;
  };
  assert.equal(reason(new Uint8Array(0)), "malformed");
  assert.equal(reason(good.subarray(0, HEADER_BYTES + 10)), "malformed");
  assert.equal(reason(crypto.getRandomValues(new Uint8Array(300))), "malformed");
  const reserved = good.slice();
  reserved[3] = 1;
  assert.equal(reason(reserved), "malformed");
  const version = good.slice();
  version[2] = 2;
  assert.equal(reason(version), "version");
  const big = new Uint8Array(MAX_PACKET_BYTES + 1);
  big.set(good);
  assert.equal(reason(big), "oversized");
  assert.equal(
    reason(encodePacket(new MeshKeyring(new Uint8Array(32)).current, ping())),
    "unknownKey",
  );
  for (const at of [8, HEADER_BYTES, good.length - 1]) {
    const tampered = good.slice();
    tampered[at] ^= 0x80;
    assert.equal(reason(tampered), "auth", `byte ${at} flipped`);
  }
});

Deno.test("a packet that authenticates but says something invalid is refused as invalid", () => {
  const sealWith = (text: string) => {
    const header = new Uint8Array(HEADER_BYTES);
    header.set([0x52, 0x4d, 1, 0]);
    header.set(keys.current.id, 4);
    header.set(newNonce(), 8);
    const body = seal(keys.current, header.subarray(8), header, new TextEncoder().encode(text));
    const out = new Uint8Array(header.length + body.length);
    out.set(header);
    out.set(body, header.length);
    return out;
  };
  for (
    const text of [
      "not json",
      "{}",
      JSON.stringify({ ...ping(), k: "rm -rf" }),
      JSON.stringify({ ...ping(), extra: 1 }),
      JSON.stringify({ ...ping(), f: { ...member(1), u: "file:///etc/passwd" } }),
      JSON.stringify({ ...ping(), q: -1 }),
    ]
  ) {
    const d = decodePacket(keys, sealWith(text));
    assert.equal(d.ok ? "ok" : d.reason, "invalid", text);
  }
});

Deno.test("updates fill a packet up to 1,400 bytes and no further; a larger envelope is refused", () => {
  const env = ping();
  let budget = updateBudget(env);
  const updates: WireMember[] = [];
  for (let i = 0; budget >= updateBytes(member(100 + i)); i++) {
    const u = member(100 + i);
    budget -= updateBytes(u);
    updates.push(u);
  }
  env.u = updates;
  const packet = encodePacket(keys.current, env);
  assert.ok(packet.length <= MAX_PACKET_BYTES, `${packet.length} bytes`);
  assert.ok(packet.length > MAX_PACKET_BYTES - 200, `${packet.length} bytes: the budget was used`);
  const decoded = decodePacket(keys, packet);
  assert.ok(decoded.ok && decoded.envelope.u?.length === updates.length);
  env.u = [...updates, member(999)];
  assert.throws(() => encodePacket(keys.current, env), RangeError);
});

Deno.test("a member behind a relay is gossiped with its relay URL; a URL with spaces is refused", () => {
  const relayed = { ...member(2), u: `http://10.200.0.1:7420/relay/${crypto.randomUUID()}` };
  const decoded = decodePacket(keys, encodePacket(keys.current, { ...ping(), u: [relayed] }));
  assert.ok(decoded.ok);
  assert.equal(decoded.envelope.u?.[0].u, relayed.u);
  const spaced = { ...member(3), u: "http://10.200.0.1:7420/relay/a b" };
  const bad = decodePacket(keys, encodePacket(keys.current, { ...ping(), u: [spaced] }));
  assert.equal(bad.ok, false);
});
