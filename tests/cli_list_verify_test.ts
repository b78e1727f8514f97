/**
 * `walsync list` and `walsync verify` as a user runs them: the real CLI in a child process,
 * on replicas of real SQLite databases written by `walsync watch --once` or by the
 * Replicator, some then damaged on purpose (a flipped byte, a deleted object, a wrong
 * recorded SHA-256).
 */
import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { decodeLtx } from "../src/ltx/ltx_decoder.ts";
import { LtxEncoder } from "../src/ltx/ltx_encoder.ts";
import { type LtxHeader, newLtxHeader } from "../src/ltx/ltx_header.ts";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import { Replicator } from "../src/replicate/replicator.ts";
import { openWalDatabase } from "./support/sqlite.ts";
import {
  findLitestream,
  LitestreamProcess,
  replicaFiles,
  replicaMaxTxid,
  waitFor,
} from "./support/litestream.ts";
import { s3TestTargets, stopS3ServersAfterTests } from "./support/s3_server.ts";
import { type CliRun, MOD_PATH, runWalsync } from "./support/cli.ts";
import { REPLICA_FLAGS_HELP } from "../src/cli/replica_flags.ts";

const walsync = (args: string[], env?: Record<string, string>) => runWalsync(args, { env });

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-list-verify-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function txidName(min: number, max: number): string {
  const hex = (n: number) => n.toString(16).padStart(16, "0");
  return `${hex(min)}-${hex(max)}.ltx`;
}

function pageBytes(db: DatabaseSync): number {
  const { page_count } = db.prepare("PRAGMA page_count").get() as { page_count: number };
  const { page_size } = db.prepare("PRAGMA page_size").get() as { page_size: number };
  return page_count * page_size;
}

interface Replicated {
  /** Database size in bytes after the last commit. */
  sizeBytes: number;
}

/**
 * Replicates a fresh database through the Replicator: TXID 1 is the snapshot, each of the
 * `commits` inserts one more level-0 file, and no level-9 snapshot is written.
 */
async function replicate(
  client: FileReplicaClient,
  path: string,
  name: string,
  commits: number,
): Promise<Replicated> {
  const app = openWalDatabase(path);
  try {
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    const replicator = await Replicator.open(path, { name, client });
    try {
      for (let i = 0; i < commits; i++) {
        app.exec(`INSERT INTO t (v) VALUES (randomblob(${3000 + i * 1500}))`);
        await replicator.sync();
      }
      await replicator.upload();
    } finally {
      await replicator.close();
    }
    return { sizeBytes: pageBytes(app) };
  } finally {
    app.close();
  }
}

/** Sizes of a database's stored LTX files, keyed by "<level>/<file name>". */
async function storedFiles(root: string, name: string): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for await (const level of Deno.readDir(`${root}/${name}/ltx`)) {
    for await (const entry of Deno.readDir(`${root}/${name}/ltx/${level.name}`)) {
      if (!entry.name.endsWith(".ltx")) continue;
      const { size } = await Deno.stat(`${root}/${name}/ltx/${level.name}/${entry.name}`);
      files.set(`${level.name}/${entry.name}`, size);
    }
  }
  return files;
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

async function recordedMeta(path: string): Promise<Record<string, string>> {
  return JSON.parse(await Deno.readTextFile(`${path}.meta.json`));
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface VerifyJson {
  name: string;
  replica: string;
  files: number;
  bytes: number;
  latestTxid: number;
  problems: string[];
  notes: string[];
  databaseChecksum?: string;
}

async function verifyJson(name: string, url: string): Promise<CliRun & { report: VerifyJson }> {
  const run = await walsync(["verify", name, "-b", url, "--json", "--log-level", "warn"]);
  return { ...run, report: JSON.parse(run.stdout) };
}

/** Six TXIDs of "app.db" (1 snapshot + 5 commits), no level-9 snapshot. */
async function sixTxidReplica(dir: string): Promise<{ root: string; url: string }> {
  const root = `${dir}/replica`;
  await replicate(new FileReplicaClient(root), `${dir}/app.db`, "app.db", 5);
  return { root, url: `file://${root}` };
}

Deno.test("walsync list shows every database, one with a slash in its name, with exact TXIDs, counts and sizes", async () => {
  await withDir(async (dir) => {
    const root = `${dir}/replica`;
    const client = new FileReplicaClient(root);
    const app = await replicate(client, `${dir}/app.db`, "app.db", 5);
    const tenant = await replicate(client, `${dir}/b.db`, "tenants/a/app.db", 2);
    const appFiles = await storedFiles(root, "app.db");
    const tenantFiles = await storedFiles(root, "tenants/a/app.db");
    assert.equal(appFiles.size, 6);
    assert.equal(tenantFiles.size, 3);
    const appUpdated = (await recordedMeta(`${root}/app.db/ltx/0/${txidName(6, 6)}`)).createdAt;
    const tenantUpdated =
      (await recordedMeta(`${root}/tenants/a/app.db/ltx/0/${txidName(3, 3)}`)).createdAt;

    const json = await walsync(["list", "-b", `file://${root}`, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), {
      replica: `file://${root}`,
      databases: [
        {
          name: "app.db",
          txid: 6,
          txidHex: "0000000000000006",
          updatedAt: appUpdated,
          sizeBytes: app.sizeBytes,
          pageSize: 4096,
          objectCount: 6,
          storedBytes: sum(appFiles.values()),
          snapshotTxid: 1,
          levels: [{ level: 0, objects: 6, bytes: sum(appFiles.values()) }],
        },
        {
          name: "tenants/a/app.db",
          txid: 3,
          txidHex: "0000000000000003",
          updatedAt: tenantUpdated,
          sizeBytes: tenant.sizeBytes,
          pageSize: 4096,
          objectCount: 3,
          storedBytes: sum(tenantFiles.values()),
          snapshotTxid: 1,
          levels: [{ level: 0, objects: 3, bytes: sum(tenantFiles.values()) }],
        },
      ],
    });

    const text = await walsync(["list", "-b", `file://${root}`]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[0].split(/\s+/), [
      "NAME",
      "TXID",
      "UPDATED",
      "SIZE",
      "OBJECTS",
      "STORED",
      "LEVELS",
    ]);
    const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
    assert.deepEqual(lines[1].split(/\s{2,}/), [
      "app.db",
      "0000000000000006",
      appUpdated.replace(/\.\d+Z$/, "Z"),
      kib(app.sizeBytes),
      "6",
      kib(sum(appFiles.values())),
      `L0 6 ${kib(sum(appFiles.values()))}`,
    ]);
    assert.deepEqual(lines[2].split(/\s{2,}/), [
      "tenants/a/app.db",
      "0000000000000003",
      tenantUpdated.replace(/\.\d+Z$/, "Z"),
      kib(tenant.sizeBytes),
      "3",
      kib(sum(tenantFiles.values())),
      `L0 3 ${kib(sum(tenantFiles.values()))}`,
    ]);
    // Aligned: every row's TXID and UPDATED start where the header's do, and rows end together.
    for (const line of lines.slice(1)) {
      assert.equal(line.indexOf("00000000000000"), lines[0].indexOf("TXID"));
      assert.equal(line.indexOf("Z ") - 19, lines[0].indexOf("UPDATED"));
      assert.equal(line.length, lines[0].length);
    }
  });
});

Deno.test("walsync list of an empty directory says so on stderr and exits 0", async () => {
  await withDir(async (dir) => {
    const text = await walsync(["list", "-b", `file://${dir}`]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, "");
    assert.match(text.stderr, new RegExp(`no databases in file://${dir}\n`));
    const json = await walsync(["list", "-b", `file://${dir}`, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { replica: `file://${dir}`, databases: [] });
  });
});

Deno.test("walsync verify of a replica written by watch --once finds no problems and exits 0", async () => {
  await withDir(async (dir) => {
    const url = `file://${dir}/replica`;
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    try {
      for (let i = 0; i < 3; i++) {
        if (i > 0) app.exec(`INSERT INTO t (v) VALUES (randomblob(${i * 4000}))`);
        const watch = await walsync(["watch", `${dir}/app.db`, "-b", url, "--once"]);
        assert.equal(watch.code, 0, watch.stderr);
      }
    } finally {
      app.close();
    }
    const files = await storedFiles(`${dir}/replica`, "app.db");
    // The application keeps the WAL (no automatic checkpoints): each run continues the
    // sequence at level 0 without a new snapshot.
    assert.deepEqual([...files.keys()].sort(), [
      `0/${txidName(1, 1)}`,
      `0/${txidName(2, 2)}`,
      `0/${txidName(3, 3)}`,
    ]);
    const recorded = await recordedMeta(`${dir}/replica/app.db/ltx/0/${txidName(3, 3)}`);

    const { code, stderr, report } = await verifyJson("app.db", url);
    assert.equal(code, 0, stderr);
    assert.deepEqual(report, {
      name: "app.db",
      replica: url,
      files: 3,
      bytes: sum(files.values()),
      latestTxid: 3,
      problems: [],
      notes: [],
      databaseChecksum: recorded.databaseChecksum,
    });

    const text = await walsync(["verify", "app.db", "-b", url, "--log-format", "text"]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(
      text.stdout,
      `verified app.db: 3 objects, ${
        (sum(files.values()) / 1024).toFixed(1)
      } KiB, latest TXID 0000000000000003, OK\n`,
    );
    assert.match(
      text.stderr,
      /INFO {2}objects checked db=app\.db files=3 totalFiles=3 .*percent=100/,
    );
    assert.match(
      text.stderr,
      new RegExp(
        `INFO {2}latest state verified db=app\\.db txid=0000000000000003 checksum=${recorded.databaseChecksum}`,
      ),
    );
  });
});

Deno.test("walsync verify accepts a name with a slash and checks every one of its objects", async () => {
  await withDir(async (dir) => {
    const root = `${dir}/replica`;
    await replicate(new FileReplicaClient(root), `${dir}/b.db`, "tenants/a/app.db", 3);
    const { code, stderr, report } = await verifyJson("tenants/a/app.db", `file://${root}`);
    assert.equal(code, 0, stderr);
    assert.equal(report.files, 4);
    assert.equal(report.latestTxid, 4);
    assert.deepEqual(report.problems, []);
    assert.match(report.databaseChecksum ?? "", /^[0-9a-f]{16}$/);
  });
});

Deno.test("walsync verify names the object with a flipped byte in its page data and exits 1", async () => {
  await withDir(async (dir) => {
    const { root, url } = await sixTxidReplica(dir);
    const path = `${root}/app.db/ltx/0/${txidName(4, 4)}`;
    const bytes = await Deno.readFile(path);
    // The middle of a file holding incompressible rows is page data.
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    await Deno.writeFile(path, bytes);
    const actualSha = await sha256Hex(bytes);
    const recordedSha = (await recordedMeta(path)).sha256;

    const { code, report } = await verifyJson("app.db", url);
    assert.equal(code, 1);
    assert.equal(report.files, 6);
    assert.equal(report.problems.length, 3, report.problems.join("\n"));
    assert.match(
      report.problems[0],
      /^level 0 0000000000000004-0000000000000004\.ltx is damaged: /,
    );
    assert.equal(
      report.problems[1],
      `level 0 0000000000000004-0000000000000004.ltx has SHA-256 ${actualSha}, but ${recordedSha} is recorded; restores that read it fail`,
    );
    assert.equal(
      report.problems[2],
      "level 0 0000000000000004-0000000000000004.ltx could not be applied, so the database " +
        "checksums at TXIDs 0000000000000004..0000000000000006 were not checked",
    );
    assert.equal(report.databaseChecksum, undefined);

    const text = await walsync(["verify", "app.db", "-b", url, "--log-level", "warn"]);
    assert.equal(text.code, 1);
    const lines = text.stdout.trimEnd().split("\n");
    assert.deepEqual(lines.slice(0, 3), report.problems.map((p) => `problem: ${p}`));
    assert.match(
      lines[3],
      /^verified app\.db: 6 objects, .* latest TXID 0000000000000006, 3 problems$/,
    );
  });
});

Deno.test("walsync verify names the TXIDs no file holds when middle level-0 files are gone", async () => {
  await withDir(async (dir) => {
    const { root, url } = await sixTxidReplica(dir);
    const client = new FileReplicaClient(root);
    await client.deleteFiles("app.db", [
      { level: 0, minTxid: 3, maxTxid: 3 },
      { level: 0, minTxid: 4, maxTxid: 4 },
    ]);
    const { code, report } = await verifyJson("app.db", url);
    assert.equal(code, 1);
    assert.equal(report.files, 4);
    assert.equal(report.latestTxid, 6);
    assert.deepEqual(report.problems.slice(0, 1), [
      "TXIDs 0000000000000003..0000000000000004 are in no file: restores to those positions " +
      "and to every later one up to 0000000000000006 are impossible",
    ]);
    assert.equal(report.problems.length, 1, report.problems.join("\n"));
    // The files past the hole are still read and decoded, but no state comes before them.
    assert.deepEqual(report.notes, [
      "level 0 0000000000000005-0000000000000005.ltx: no restorable position comes before it, so only the object itself was checked",
      "level 0 0000000000000006-0000000000000006.ltx: no restorable position comes before it, so only the object itself was checked",
    ]);
  });
});

Deno.test("walsync verify names the object whose recorded SHA-256 disagrees with its bytes", async () => {
  await withDir(async (dir) => {
    const { root, url } = await sixTxidReplica(dir);
    const path = `${root}/app.db/ltx/0/${txidName(2, 2)}`;
    const meta = await recordedMeta(path);
    const wrong = "ab".repeat(32);
    await Deno.writeTextFile(`${path}.meta.json`, JSON.stringify({ ...meta, sha256: wrong }));
    const actual = await sha256Hex(await Deno.readFile(path));
    assert.equal(actual, meta.sha256);

    const { code, report } = await verifyJson("app.db", url);
    assert.equal(code, 1);
    assert.deepEqual(report.problems, [
      `level 0 0000000000000002-0000000000000002.ltx has SHA-256 ${actual}, but ${wrong} is recorded; restores that read it fail`,
    ]);
  });
});

Deno.test("walsync verify notes an object with no recorded SHA-256 without calling it a problem", async () => {
  await withDir(async (dir) => {
    const { root, url } = await sixTxidReplica(dir);
    // As Litestream writes it: the LTX file alone, no walsync metadata beside it.
    await Deno.remove(`${root}/app.db/ltx/0/${txidName(3, 3)}.meta.json`);
    const { code, stderr, report } = await verifyJson("app.db", url);
    assert.equal(code, 0, stderr);
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.notes, [
      "level 0 0000000000000003-0000000000000003.ltx: no SHA-256 or database checksum recorded (written by another tool?); its LTX checksum was verified",
    ]);
  });
});

Deno.test("walsync verify of a name the replica does not hold is a problem and exits 1", async () => {
  await withDir(async (dir) => {
    const { url } = await sixTxidReplica(dir);
    const { code, report } = await verifyJson("nope.db", url);
    assert.equal(code, 1);
    assert.deepEqual(report, {
      name: "nope.db",
      replica: url,
      files: 0,
      bytes: 0,
      latestTxid: 0,
      problems: [`No LTX files for "nope.db" in ${url}`],
      notes: [],
    });
  });
});

Deno.test("walsync list and verify without -b, or verify without NAME, exit 2", async () => {
  const list = await walsync(["list"]);
  assert.equal(list.code, 2);
  assert.equal(list.stdout, "");
  assert.match(list.stderr, /list needs a replica: -b/);
  const verify = await walsync(["verify", "app.db"]);
  assert.equal(verify.code, 2);
  assert.match(verify.stderr, /verify needs a replica: -b/);
  const noName = await walsync(["verify", "-b", "file:///tmp"]);
  assert.equal(noName.code, 2);
  assert.match(noName.stderr, /verify needs exactly one NAME/);
});

Deno.test("help for list and verify prints the usage with examples and exits 0", async () => {
  for (const command of ["list", "verify"]) {
    for (const args of [["help", command], [command, "--help"]]) {
      const { code, stdout } = await walsync(args);
      assert.equal(code, 0);
      assert.match(stdout, new RegExp(`^Usage: walsync ${command} `));
      assert.match(stdout, /\nExamples:\n {2}walsync /);
    }
  }
});

/** Encodes an LTX file from a header and its pages (ascending). */
function encodeLtx(header: LtxHeader, pages: { pgno: number; data: Uint8Array }[]): Uint8Array {
  const encoder = new LtxEncoder(header);
  const parts = [
    encoder.encodeHeader(),
    // encodePage reuses its buffer: keep a copy of each frame.
    ...pages.map((p) => encoder.encodePage(p.pgno, p.data).slice()),
  ];
  parts.push(encoder.finish().bytes);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The decoded level-0 file holding TXID `txid`. */
async function level0(root: string, txid: number) {
  return await decodeLtx(await Deno.readFile(`${root}/app.db/ltx/0/${txidName(txid, txid)}`));
}

/** Rewrites an object's bytes and, like a careless copy of another replica, its SHA-256. */
async function replaceObject(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.writeFile(path, bytes);
  const meta = await recordedMeta(path);
  await Deno.writeTextFile(
    `${path}.meta.json`,
    JSON.stringify({ ...meta, sha256: await sha256Hex(bytes) }),
  );
}

Deno.test("walsync verify accepts a page-size change: the snapshot it causes starts a new chain", async () => {
  await withDir(async (dir) => {
    const url = `file://${dir}/replica`;
    const path = `${dir}/app.db`;
    const app = openWalDatabase(path);
    try {
      app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
      app.exec("INSERT INTO t (v) VALUES (randomblob(20000))");
      const first = await walsync(["watch", path, "-b", url, "--once"]);
      assert.equal(first.code, 0, first.stderr);
      app.exec("PRAGMA page_size=16384");
      app.exec("PRAGMA journal_mode=DELETE");
      app.exec("VACUUM");
      app.exec("PRAGMA journal_mode=WAL");
      app.exec("INSERT INTO t (v) VALUES (randomblob(30000))");
      const second = await walsync(["watch", path, "-b", url, "--once"]);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /page size/);
    } finally {
      app.close();
    }
    const files = [...(await storedFiles(`${dir}/replica`, "app.db")).keys()].sort();
    assert.deepEqual(files, [`0/${txidName(1, 1)}`, `0/${txidName(2, 2)}`, `9/${txidName(1, 2)}`]);
    for (const txid of ["1", "2"]) {
      const restored = await walsync([
        "restore",
        "app.db",
        "-b",
        url,
        "-o",
        `${dir}/at${txid}.db`,
        "--txid",
        txid,
      ]);
      assert.equal(restored.code, 0, restored.stderr);
    }

    const { code, stderr, report } = await verifyJson("app.db", url);
    assert.equal(code, 0, `${stderr}\n${report.problems.join("\n")}`);
    assert.deepEqual(report.problems, []);
    assert.equal(report.latestTxid, 2);
  });
});

Deno.test("walsync verify names a middle object whose pages do not give the checksum recorded at its TXID", async () => {
  await withDir(async (dir) => {
    const { root, url } = await sixTxidReplica(dir);
    // Change a page in TXID 3 that TXID 4 rewrites: the latest state stays right, TXID 3 not.
    const three = await level0(root, 3);
    const four = await level0(root, 4);
    const rewritten = new Set(four.pages.map((p) => p.pgno));
    const victim = three.pages.find((p) => rewritten.has(p.pgno));
    assert.ok(victim, "TXIDs 3 and 4 share a page");
    victim.data[victim.data.length - 1] ^= 0xff;
    await replaceObject(
      `${root}/app.db/ltx/0/${txidName(3, 3)}`,
      encodeLtx(three.header, three.pages),
    );

    const atThree = await walsync([
      "restore",
      "app.db",
      "-b",
      url,
      "-o",
      `${dir}/at3.db`,
      "--txid",
      "3",
    ]);
    assert.equal(atThree.code, 1, atThree.stderr);
    assert.match(atThree.stderr, /checksum/);
    const latest = await walsync(["restore", "app.db", "-b", url, "-o", `${dir}/latest.db`]);
    assert.equal(latest.code, 0, latest.stderr);

    const { code, report } = await verifyJson("app.db", url);
    assert.equal(code, 1, report.problems.join("\n"));
    assert.equal(report.problems.length, 1, report.problems.join("\n"));
    assert.match(
      report.problems[0],
      /^level 0 0000000000000003-0000000000000003\.ltx: .*TXID 0000000000000003/,
    );
  });
});

Deno.test("walsync verify checks a compacted level-1 file against the level-0 chain it spans", async () => {
  await withDir(async (dir) => {
    const { root, url } = await sixTxidReplica(dir);
    const client = new FileReplicaClient(root);
    // A compaction of TXIDs 2..5: the newest version of every page those files changed.
    const newest = new Map<number, Uint8Array>();
    for (let txid = 2; txid <= 5; txid++) {
      for (const page of (await level0(root, txid)).pages) newest.set(page.pgno, page.data);
    }
    const five = await level0(root, 5);
    const six = await level0(root, 6);
    const header = newLtxHeader({
      pageSize: five.header.pageSize,
      commit: five.header.commit,
      minTxid: 2,
      maxTxid: 5,
    });
    const recordedAtFive = BigInt(
      `0x${(await recordedMeta(`${root}/app.db/ltx/0/${txidName(5, 5)}`)).databaseChecksum}`,
    );
    const store = async (pages: Map<number, Uint8Array>) => {
      const sorted = [...pages].sort((a, b) => a[0] - b[0]).map(([pgno, data]) => ({ pgno, data }));
      const bytes = encodeLtx(header, sorted);
      await client.writeFile("app.db", { level: 1, minTxid: 2, maxTxid: 5 }, bytes, {
        sha256: await sha256Hex(bytes),
        databaseChecksum: recordedAtFive,
        createdAt: new Date(),
      });
    };

    await store(newest);
    const good = await verifyJson("app.db", url);
    assert.equal(good.code, 0, good.report.problems.join("\n"));
    assert.equal(good.report.files, 7);

    // Leave out a page that TXID 6 rewrites: restoring the latest TXID still works, TXID 5 not.
    const rewritten = new Set(six.pages.map((p) => p.pgno));
    const dropped = [...newest.keys()].find((pgno) => rewritten.has(pgno) && pgno !== 1);
    assert.ok(dropped, "the compaction shares a page with TXID 6");
    newest.delete(dropped);
    await store(newest);
    const atFive = await walsync([
      "restore",
      "app.db",
      "-b",
      url,
      "-o",
      `${dir}/at5.db`,
      "--txid",
      "5",
    ]);
    assert.equal(atFive.code, 1, atFive.stderr);
    const { code, report } = await verifyJson("app.db", url);
    assert.equal(code, 1, report.problems.join("\n"));
    assert.equal(report.problems.length, 1, report.problems.join("\n"));
    assert.match(
      report.problems[0],
      /^level 1 0000000000000002-0000000000000005\.ltx: .*TXID 0000000000000005/,
    );
  });
});

Deno.test("walsync verify logs its progress with numbers, not strings", async () => {
  await withDir(async (dir) => {
    const { url } = await sixTxidReplica(dir);
    const run = await walsync(["verify", "app.db", "-b", url, "--log-format", "json"]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stderr.trim().split("\n").map((line) => JSON.parse(line));
    const checked = lines.filter((line) => line.msg === "objects checked");
    assert.ok(checked.length > 0, run.stderr);
    for (const line of checked) {
      assert.equal(typeof line.files, "number", JSON.stringify(line));
      assert.equal(line.totalFiles, 6, JSON.stringify(line));
    }
    assert.equal(checked.at(-1).files, 6);
  });
});

Deno.test("verify --help is wrapped within 90 columns, its paragraphs filled", async () => {
  const { stdout } = await walsync(["verify", "--help"]);
  const shared = new Set(REPLICA_FLAGS_HELP.split("\n"));
  const ownText = stdout.split("\n").filter((line) => !shared.has(line));
  for (const line of ownText) assert.ok(line.length <= 90, `too wide: ${line}`);
  const intro = stdout.split("\n\n")[1].split("\n");
  for (const line of intro.slice(0, -1)) assert.ok(line.length >= 70, `ragged: ${line}`);
});

Deno.test("walsync verify interrupted by SIGINT removes its copy of the database and exits 1", async () => {
  await withDir(async (dir) => {
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)");
    for (let i = 0; i < 24; i++) app.exec("INSERT INTO t (b) VALUES (randomblob(1024 * 1024))");
    app.close();
    const url = `file://${dir}/replica`;
    const watch = await walsync(["watch", `${dir}/app.db`, "-b", url, "--once"]);
    assert.equal(watch.code, 0, watch.stderr);
    // verify rebuilds the database under TMPDIR: wait until that copy holds data.
    const tmp = `${dir}/tmp`;
    await Deno.mkdir(tmp);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MOD_PATH, "verify", "app.db", "-b", url],
      env: { TMPDIR: tmp },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let exited = false;
    child.status.then(() => exited = true);
    const copyHasData = async () => {
      for await (const entry of Deno.readDir(tmp)) {
        const size = await Deno.stat(`${tmp}/${entry.name}/latest.db`).then((i) => i.size, () => 0);
        if (size > 0) return true;
      }
      return false;
    };
    while (!(await copyHasData())) {
      if (exited) throw new Error("verify ended before its copy of the database held data");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    child.kill("SIGINT");
    const { code, stdout, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 1, text);
    assert.equal(new TextDecoder().decode(stdout), "");
    assert.match(text, /error: Verify of "app\.db" interrupted by SIGINT/);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp)), []);
  });
});

const LITESTREAM_VERSION = "0.5.17";
const litestream = findLitestream(LITESTREAM_VERSION);

Deno.test({
  name:
    `walsync verify checks a replica Litestream ${LITESTREAM_VERSION} wrote, its level-1 compactions against its level-0 files${
      litestream ? "" : " (litestream not installed)"
    }`,
  ignore: litestream === null,
  fn: async () => {
    await withDir(async (dir) => {
      const root = `${dir}/replica`;
      const replicaPath = `${root}/app.db`;
      const app = openWalDatabase(`${dir}/app.db`);
      const peer = new LitestreamProcess(litestream!, {
        dbPath: `${dir}/app.db`,
        replicaPath,
        configPath: `${dir}/litestream.yml`,
        l1Interval: "1s",
      });
      // A level-1 file [a..b] (a > 1) with every level-0 file it merged still there.
      const compaction = () =>
        replicaFiles(replicaPath, 1).find((f) =>
          f.minTxid > 1 && f.maxTxid > f.minTxid &&
          replicaMaxTxid(replicaPath) > f.maxTxid
        );
      try {
        app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
        for (let i = 0; compaction() === undefined || i < 10; i++) {
          app.exec(`INSERT INTO t (v) VALUES (randomblob(${1000 + i * 200}))`);
          const txid = replicaMaxTxid(replicaPath);
          await waitFor("Litestream to ship the insert", () => replicaMaxTxid(replicaPath) > txid);
          if (i > 200) throw new Error(`no level-1 compaction:\n${peer.output}`);
        }
      } finally {
        await peer.stop();
        app.close();
      }
      const good = await verifyJson("app.db", `file://${root}`);
      assert.equal(good.code, 0, good.report.problems.join("\n"));
      assert.deepEqual(good.report.problems, []);
      assert.ok(good.report.notes.length > 0); // no walsync metadata: noted, not a problem

      // Leave out of the compaction a page that changed within its range.
      const { minTxid, maxTxid } = compaction()!;
      const before = await walsync([
        "restore",
        "app.db",
        "-b",
        `file://${root}`,
        "-o",
        `${dir}/before.db`,
        "--txid",
        String(minTxid - 1),
      ]);
      assert.equal(before.code, 0, before.stderr);
      const old = await Deno.readFile(`${dir}/before.db`);
      const path = `${replicaPath}/ltx/1/${txidName(minTxid, maxTxid)}`;
      const merged = await decodeLtx(await Deno.readFile(path));
      const pageSize = merged.header.pageSize;
      const changed = merged.pages.find((p) =>
        !p.data.every((byte, i) => byte === old[(p.pgno - 1) * pageSize + i])
      );
      assert.ok(changed, "the compaction changes a page");
      await Deno.writeFile(
        path,
        encodeLtx(merged.header, merged.pages.filter((p) => p !== changed)),
      );
      const { code, report } = await verifyJson("app.db", `file://${root}`);
      assert.equal(code, 1);
      assert.equal(report.problems.length, 1, report.problems.join("\n"));
      assert.match(
        report.problems[0],
        new RegExp(
          `^level 1 ${txidName(minTxid, maxTxid).replaceAll(".", "\\.")} and level 0 ${
            txidName(maxTxid, maxTxid).replaceAll(".", "\\.")
          } give different database checksums at TXID ${txidName(maxTxid, maxTxid).slice(0, 16)} `,
        ),
      );
    });
  },
});

const s3 = s3TestTargets()[0];

Deno.test({
  name: `walsync list and verify read a replica written to -b s3:// (${s3.label})`,
  ignore: s3.ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await s3.start();
    await withDir(async (dir) => {
      const url = `s3://${server.bucket}/list-verify-${crypto.randomUUID()}`;
      const env: Record<string, string> = {
        AWS_REGION: server.region,
        AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      };
      const endpoint = ["--endpoint", server.endpoint];
      const app = openWalDatabase(`${dir}/app.db`);
      let sizeBytes: number;
      try {
        app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
        const first = await walsync(["watch", `${dir}/app.db`, "-b", url, "--once"], {
          ...env,
          AWS_ENDPOINT_URL_S3: server.endpoint,
        });
        assert.equal(first.code, 0, first.stderr);
        app.exec("INSERT INTO t (v) VALUES (randomblob(9000))");
        const second = await walsync(["watch", `${dir}/app.db`, "-b", url, "--once"], {
          ...env,
          AWS_ENDPOINT_URL_S3: server.endpoint,
        });
        assert.equal(second.code, 0, second.stderr);
        sizeBytes = pageBytes(app);
      } finally {
        app.close();
      }

      const list = await walsync(["list", "-b", url, ...endpoint, "--json"], env);
      assert.equal(list.code, 0, list.stderr);
      const listed = JSON.parse(list.stdout);
      assert.equal(listed.databases.length, 1);
      const [db] = listed.databases;
      assert.equal(db.name, "app.db");
      assert.equal(db.txid, 2);
      assert.equal(db.sizeBytes, sizeBytes);
      assert.equal(db.objectCount, 2);
      assert.equal(db.snapshotTxid, 1);

      const verify = await walsync(["verify", "app.db", "-b", url, ...endpoint, "--json"], env);
      assert.equal(verify.code, 0, verify.stderr);
      const report = JSON.parse(verify.stdout);
      assert.deepEqual(report.problems, []);
      assert.equal(report.files, 2);
      assert.equal(report.bytes, db.storedBytes);
      assert.equal(report.latestTxid, 2);
    });
  },
});

stopS3ServersAfterTests();
