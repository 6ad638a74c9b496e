import assert from "node:assert/strict";
import {
  effectivePermissions,
  normalizePath,
  parseNetEntry,
  PermissionListSchemas,
  RequestedPermissionsSchema,
} from "./permissions.ts";

const DENIED = {
  read: false,
  write: false,
  net: false,
  env: false,
  run: false,
  ffi: false,
  sys: false,
  import: false,
};

Deno.test("the result sets all eight permission keys, and run, ffi, sys and import are always false", () => {
  const none = effectivePermissions({}, {});
  assert.deepEqual(none, DENIED);
  assert.deepEqual(Object.keys(none).sort(), [
    "env",
    "ffi",
    "import",
    "net",
    "read",
    "run",
    "sys",
    "write",
  ]);
  const lots = effectivePermissions(
    { read: ["/"], write: ["/"], net: ["a.example"], env: ["A"] },
    { read: ["/"], write: ["/"], net: ["a.example"], env: ["A"] },
  );
  assert.equal(Object.keys(lots).length, 8);
  for (const key of ["run", "ffi", "sys", "import"] as const) assert.equal(lots[key], false);
  // An empty list is never returned: nothing allowed is `false`.
  for (const key of ["read", "write", "net", "env"] as const) {
    assert.ok(lots[key] === false || lots[key].length > 0);
  }
});

Deno.test("a grant the plugin did not request is ignored", () => {
  const perms = effectivePermissions(
    { read: ["/data"], net: ["a.example"], env: ["A"] },
    { read: ["/etc"], write: ["/data"], net: ["b.example"], env: ["B"] },
  );
  assert.deepEqual(perms, DENIED);
});

Deno.test("a request that is not granted is denied", () => {
  const perms = effectivePermissions(
    { read: ["/data", "/models"], write: ["/out"], net: ["a.example"], env: ["A", "B"] },
    { read: ["/models"], env: ["B"] },
  );
  assert.deepEqual(perms, { ...DENIED, read: ["/models"], env: ["B"] });
});

Deno.test("paths: a grant inside a request counts as itself, a request inside a grant as the request", () => {
  assert.deepEqual(
    effectivePermissions({ read: ["/data"] }, { read: ["/data/models"] }).read,
    ["/data/models"],
  );
  assert.deepEqual(
    effectivePermissions({ read: ["/data/models"] }, { read: ["/data"] }).read,
    ["/data/models"],
  );
  assert.deepEqual(effectivePermissions({ write: ["/out"] }, { write: ["/out"] }).write, ["/out"]);
  assert.deepEqual(
    effectivePermissions({ read: ["/"] }, { read: ["/srv/a", "/srv/b"] }).read,
    ["/srv/a", "/srv/b"],
  );
});

Deno.test("paths: a sibling with a common prefix is not inside", () => {
  assert.equal(effectivePermissions({ read: ["/data"] }, { read: ["/data2"] }).read, false);
  assert.equal(effectivePermissions({ read: ["/data2/x"] }, { read: ["/data"] }).read, false);
});

Deno.test("paths are normalized: absolute, no trailing slash, no '..', no duplicates", () => {
  assert.deepEqual(
    effectivePermissions(
      { read: ["/data/", "/srv/x/../y"] },
      { read: ["/data//models/", "/srv/y/", "/data/models"] },
    ).read,
    ["/data/models", "/srv/y"],
  );
  assert.equal(normalizePath("/a/b/"), "/a/b");
  assert.equal(normalizePath("/"), "/");
  assert.equal(normalizePath("rel"), `${Deno.cwd()}/rel`);
});

Deno.test("paths under another effective path are dropped as redundant", () => {
  assert.deepEqual(
    effectivePermissions({ read: ["/data", "/data/models"] }, { read: ["/data"] }).read,
    ["/data"],
  );
});

Deno.test("extra paths (the agent's own dirs) are added whatever was granted", () => {
  const own = "/var/roam/agents/a1/";
  const perms = effectivePermissions({}, {}, { read: [own], write: [own] });
  assert.deepEqual(perms, {
    ...DENIED,
    read: ["/var/roam/agents/a1"],
    write: ["/var/roam/agents/a1"],
  });
  const both = effectivePermissions({ read: ["/data"] }, { read: ["/data"] }, { read: [own] });
  assert.deepEqual(both.read, ["/data", "/var/roam/agents/a1"]);
  assert.equal(both.write, false);
});

Deno.test("net: a bare host matches every port, host:port only that port, and the narrower wins", () => {
  const net = (requested: string[], granted: string[]) =>
    effectivePermissions({ net: requested }, { net: granted }).net;
  assert.deepEqual(net(["a.example"], ["a.example:443"]), ["a.example:443"]);
  assert.deepEqual(net(["a.example:443"], ["a.example"]), ["a.example:443"]);
  assert.deepEqual(net(["a.example"], ["a.example"]), ["a.example"]);
  assert.deepEqual(net(["a.example:443"], ["a.example:443"]), ["a.example:443"]);
  assert.equal(net(["a.example:443"], ["a.example:80"]), false);
  assert.equal(net(["a.example"], ["b.a.example"]), false);
  assert.deepEqual(net(["A.Example"], ["a.example:8080"]), ["a.example:8080"]);
  assert.deepEqual(net(["10.0.0.5", "[::1]:9000"], ["10.0.0.5:22", "[::1]"]), [
    "10.0.0.5:22",
    "[::1]:9000",
  ]);
  // A bare host covers its own host:port entries.
  assert.deepEqual(net(["a.example", "a.example:443"], ["a.example"]), ["a.example"]);
});

Deno.test("env: exact names only", () => {
  assert.deepEqual(
    effectivePermissions({ env: ["HOME", "API_KEY"] }, { env: ["API_KEY", "PATH", "home"] }).env,
    ["API_KEY"],
  );
});

Deno.test("net entries: host, host:port, IPv4 and bracketed IPv6; nothing else", () => {
  assert.deepEqual(parseNetEntry("Example.ORG"), { host: "example.org" });
  assert.deepEqual(parseNetEntry("example.org:443"), { host: "example.org", port: 443 });
  assert.deepEqual(parseNetEntry("10.1.2.3:8080"), { host: "10.1.2.3", port: 8080 });
  assert.deepEqual(parseNetEntry("[::1]:80"), { host: "[::1]", port: 80 });
  for (
    const bad of [
      "http://example.org",
      "example.org:0",
      "example.org:65536",
      "example.org:",
      "-bad.example",
      "a..b",
      "300.1.1.1",
      "::1",
      "*.example.org",
      "",
    ]
  ) {
    assert.equal(parseNetEntry(bad), undefined, bad);
  }
});

Deno.test("permission lists validate, normalize, deduplicate and sort their entries", () => {
  assert.deepEqual(PermissionListSchemas.read.parse(["/b/", "/a", "/b"]), ["/a", "/b"]);
  assert.equal(PermissionListSchemas.read.safeParse(["relative/path"]).success, false);
  assert.deepEqual(PermissionListSchemas.net.parse(["B.example:1", "a.example"]), [
    "a.example",
    "b.example:1",
  ]);
  assert.equal(PermissionListSchemas.env.safeParse(["NOT-A-NAME"]).success, false);
  assert.equal(PermissionListSchemas.env.safeParse(Array(65).fill("A")).success, false);
});

Deno.test("a request for run, ffi, sys or import is refused with an error naming it", () => {
  for (const key of ["run", "ffi", "sys", "import"]) {
    const result = RequestedPermissionsSchema.safeParse({ read: ["/a"], [key]: true });
    assert.equal(result.success, false);
    const issue = result.error!.issues[0];
    assert.deepEqual(issue.path, [key]);
    assert.match(issue.message, new RegExp(`agents are never granted '${key}'`));
  }
  const unknown = RequestedPermissionsSchema.safeParse({ hrtime: true });
  assert.match(unknown.error!.issues[0].message, /unknown permission 'hrtime'/);
  assert.deepEqual(RequestedPermissionsSchema.parse({ env: ["A"] }), {
    read: [],
    write: [],
    net: [],
    env: ["A"],
  });
});
