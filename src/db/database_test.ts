import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Database } from "./database.ts";

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync db % #dir " });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function createDatabase(path: string): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1)");
  db.close();
}

Deno.test("repin moves the read to a new connection and tryWriteLock works, even with %, # and spaces in the path", async () => {
  await withDir((dir) => {
    const path = `${dir}/a%41 #b.db`;
    createDatabase(path);
    const db = Database.open(path);
    try {
      db.pin();
      assert.equal(db.repin(), true);
      assert.equal(db.pinned, true);
      const lock = db.tryWriteLock();
      assert.ok(lock, "the write lock is free");
      lock.release();
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".db")),
        [
          "a%41 #b.db",
        ],
      );
    } finally {
      db.close();
    }
  });
});

Deno.test("repin and tryWriteLock never recreate a deleted database, nor pin a replaced one", async () => {
  await withDir((dir) => {
    const path = `${dir}/app.db`;
    createDatabase(path);
    const db = Database.open(path);
    try {
      db.pin();
      Deno.removeSync(path);
      assert.equal(db.repin(), false);
      assert.equal(db.tryWriteLock(), null);
      assert.throws(() => Deno.statSync(path), Deno.errors.NotFound);

      createDatabase(path); // another database under the same name
      assert.equal(db.repin(), false, "the pin stays on the file walsync holds");
      assert.equal(db.pinned, true);
    } finally {
      db.close();
    }
  });
});
