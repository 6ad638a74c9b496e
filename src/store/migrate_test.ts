import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { isRoamError } from "../errors/mod.ts";
import { migrate, type Migration, MIGRATIONS, openStore, schemaVersion } from "./mod.ts";

const one: Migration = { version: 1, name: "one", sql: "CREATE TABLE a (x INTEGER) STRICT" };
const two: Migration = { version: 2, name: "two", sql: "ALTER TABLE a ADD COLUMN y TEXT" };

Deno.test("migrations apply in order, once each", () => {
  const db = new DatabaseSync(":memory:");
  try {
    assert.deepEqual(migrate(db, [one]), [1]);
    assert.deepEqual(migrate(db, [one, two]), [2]);
    assert.deepEqual(migrate(db, [one, two]), []);
    assert.equal(schemaVersion(db), 2);
    db.prepare("INSERT INTO a (x, y) VALUES (1, 'ok')").run();
  } finally {
    db.close();
  }
});

Deno.test("a failing migration is rolled back whole and reported", () => {
  const db = new DatabaseSync(":memory:");
  try {
    const bad: Migration = {
      version: 1,
      name: "bad",
      sql: "CREATE TABLE t (x); CREATE TABLE t (x)",
    };
    assert.throws(
      () => migrate(db, [bad]),
      (e) => isRoamError(e, "internal") && /migration 1 \(bad\)/.test(e.message),
    );
    assert.equal(schemaVersion(db), 0);
    assert.equal(
      db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").get()!.n,
      0,
    );
  } finally {
    db.close();
  }
});

Deno.test("a database from a newer roam is refused, not touched", () => {
  const db = new DatabaseSync(":memory:");
  try {
    migrate(db, [one, two]);
    assert.throws(
      () => migrate(db, [one]),
      (e) => isRoamError(e, "conflict") && /newer than this roam/.test(e.message),
    );
  } finally {
    db.close();
  }
});

Deno.test("gaps in migration versions are a programming error", () => {
  const db = new DatabaseSync(":memory:");
  try {
    assert.throws(() => migrate(db, [one, { ...two, version: 3 }]), TypeError);
  } finally {
    db.close();
  }
});

Deno.test("the store opens in WAL mode with every roam migration applied", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = openStore({ path: `${dir}/roam.db` });
    try {
      assert.equal(
        (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
        "wal",
      );
      assert.equal(schemaVersion(db), MIGRATIONS.length);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
