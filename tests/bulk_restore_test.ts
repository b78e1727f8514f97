/**
 * Bulk restore through the real CLI: 50 tenant databases restored by a glob of replica names
 * equal their sources, a name outside the glob is left out, and one corrupted database fails
 * alone (the others restore, the command exits 1 naming it).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runWalsync } from "./support/cli.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";

const TENANTS = 50;

function dumpFile(path: string): Record<string, unknown[]> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return dumpDatabase(db);
  } finally {
    db.close();
  }
}

Deno.test("restore 'tenants/*' restores 50 databases equal to their sources; a corrupted one fails alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-bulk-" });
  try {
    const tenants = Array.from({ length: TENANTS }, (_, i) => `t${String(i).padStart(2, "0")}`);
    await Deno.mkdir(`${dir}/data/tenants`, { recursive: true });
    await Deno.mkdir(`${dir}/data/other`, { recursive: true });
    for (const [i, name] of [...tenants.map((t) => `tenants/${t}.db`), "other/x.db"].entries()) {
      const db = openWalDatabase(`${dir}/data/${name}`);
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB)");
      for (let row = 0; row <= i % 5; row++) {
        db.prepare("INSERT INTO t (v, b) VALUES (?, randomblob(?))").run(`${name} ${row}`, 100 * i);
      }
      db.close();
    }
    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      `[[databases]]\npath = "data/**/*.db"\n`,
    );
    const replica = `file://${dir}/replica`;
    const once = await runWalsync([
      "watch",
      "--config",
      `${dir}/walsync.toml`,
      "-b",
      replica,
      "--once",
    ]);
    assert.equal(once.code, 0, once.stderr);

    const out = `${dir}/out`;
    const run = await runWalsync([
      "restore",
      "tenants/*",
      "-o",
      out,
      "-b",
      replica,
      "--parallel",
      "6",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`restored ${TENANTS} of ${TENANTS} databases`));
    assert.match(
      run.stderr,
      new RegExp(`\\[${TENANTS}/${TENANTS}\\]`),
      "progress across databases",
    );
    for (const tenant of tenants) {
      assert.deepEqual(
        dumpFile(`${out}/tenants/${tenant}.db`),
        dumpFile(`${dir}/data/tenants/${tenant}.db`),
        tenant,
      );
    }
    await assert.rejects(Deno.stat(`${out}/other/x.db`), Deno.errors.NotFound, "outside the glob");

    // A second run never overwrites what is there.
    const again = await runWalsync(["restore", "tenants/*", "-o", out, "-b", replica]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refuses to overwrite/);

    // Corrupt one database's replica: its restore fails, every other one succeeds.
    const broken = "tenants/t17.db";
    const level0 = `${dir}/replica/${broken}/ltx/0`;
    const file = [...Deno.readDirSync(level0)].find((e) => e.name.endsWith(".ltx"))!.name;
    const bytes = Deno.readFileSync(`${level0}/${file}`);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    Deno.writeFileSync(`${level0}/${file}`, bytes);
    const all = `${dir}/all`;
    const bulk = await runWalsync(["restore", "--all", "-o", all, "-b", replica, "--json"]);
    assert.equal(bulk.code, 1, bulk.stderr);
    const report = JSON.parse(bulk.stdout);
    assert.deepEqual(report.failed.map((f: { name: string }) => f.name), [broken]);
    assert.equal(report.restored.length, TENANTS, "every other database, other/x.db included");
    assert.match(bulk.stderr, /error: 1 of 51 databases failed to restore: "tenants\/t17\.db"/);
    await assert.rejects(Deno.stat(`${all}/${broken}`), Deno.errors.NotFound);
    assert.deepEqual(dumpFile(`${all}/other/x.db`), dumpFile(`${dir}/data/other/x.db`));
    assert.deepEqual(dumpFile(`${all}/tenants/t18.db`), dumpFile(`${dir}/data/tenants/t18.db`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bulk restore usage errors: --txid, a bad --parallel, --all with a name", async () => {
  for (
    const [args, pattern] of [
      [["restore", "--all", "-o", "/tmp/x", "-b", "file:///tmp/x", "--txid", "3"], /--txid/],
      [
        ["restore", "--all", "-o", "/tmp/x", "-b", "file:///tmp/x", "--parallel", "0"],
        /--parallel/,
      ],
      [["restore", "--all", "a.db", "-o", "/tmp/x", "-b", "file:///tmp/x"], /--all/],
    ] as const
  ) {
    const run = await runWalsync([...args]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, pattern);
  }
});
