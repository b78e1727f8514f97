/**
 * walsync.toml end to end through the real CLI: strict errors (file, line, did-you-mean,
 * exit 2, nothing written), globs with same-named files in different directories, names
 * used by restore, precedence shown by `explain`, per-database settings honoured at run time,
 * databases discovered while running, and an S3 replica configured in `[s3]`.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { type CliRun, runWalsync } from "./support/cli.ts";
import { s3TestTargets, stopS3ServersAfterTests } from "./support/s3_server.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-config-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Creates (or adds to) a WAL-mode database holding `rows` rows tagged with `tag`. */
function writeRows(path: string, tag: string, rows = 3): void {
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, tag TEXT, v TEXT)");
  for (let i = 0; i < rows; i++) {
    db.prepare("INSERT INTO t (tag, v) VALUES (?, ?)").run(tag, `${tag}-${i}`.repeat(50));
  }
  db.close();
}

function dumpFile(path: string): Record<string, unknown[]> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return dumpDatabase(db);
  } finally {
    db.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function assertExit(run: CliRun, code: number): void {
  assert.equal(run.code, code, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

Deno.test("config errors exit 2 naming file, line and key, with a did-you-mean, and write nothing", async () => {
  await withDir(async (dir) => {
    writeRows(`${dir}/app.db`, "a");
    const cases: { toml: string; expected: RegExp[] }[] = [
      {
        toml: `[s3]\nbucket = "file://${dir}/replica"\n\n[sync]\nintervall = "1s"\n\n` +
          `[[databases]]\npath = "app.db"\n`,
        expected: [
          /walsync\.toml:5: unknown key "intervall" in \[sync\]; did you mean "interval"\?/,
        ],
      },
      {
        toml: `[sycn]\ninterval = "1s"\n\n[[databases]]\npath = "app.db"\n`,
        expected: [/walsync\.toml:1: unknown section \[sycn\]; did you mean \[sync\]\?/],
      },
      {
        toml:
          `[sync]\ncheckpoint_pages = 0\nmax_changes = "ten"\n\n[[databases]]\npath = "app.db"\n`,
        expected: [
          /walsync\.toml:2: sync\.checkpoint_pages must be a whole number >= 1, got 0/,
          /walsync\.toml:3: sync\.max_changes must be a whole number >= 0, got "ten"/,
        ],
      },
      {
        toml: `[s3]\nbucket = "\${WALSYNC_TEST_SURELY_UNSET}"\n\n[[databases]]\npath = "app.db"\n`,
        expected: [/walsync\.toml:2: .*WALSYNC_TEST_SURELY_UNSET.* not set/],
      },
      {
        toml: `[sync]\ninterval = "1s\n`,
        expected: [/walsync\.toml:2: TOML syntax error/],
      },
      {
        toml: `[sync]\ninterval = "soon"\n\n[[databases]]\npath = "app.db"\n`,
        expected: [/walsync\.toml:2: sync\.interval must be a duration.*"soon"/],
      },
    ];
    for (const { toml, expected } of cases) {
      await Deno.writeTextFile(`${dir}/walsync.toml`, toml);
      for (const args of [["watch", "--once"], ["explain"]]) {
        const run = await runWalsync(args, { cwd: dir });
        assertExit(run, 2);
        assert.equal(run.stdout, "");
        for (const pattern of expected) assert.match(run.stderr, pattern, toml);
      }
      assert.equal(await exists(`${dir}/replica`), false, "nothing may be written");
    }
  });
});

Deno.test("a --config file that does not exist is a usage error naming it", async () => {
  await withDir(async (dir) => {
    for (const command of ["watch", "explain", "restore", "list"]) {
      const args = command === "restore" ? ["restore", "app.db", "-o", `${dir}/out.db`] : [command];
      const run = await runWalsync([...args, "--config", `${dir}/missing.toml`]);
      assertExit(run, 2);
      assert.match(run.stderr, new RegExp(`Config file ".*missing\\.toml" not found`));
    }
  });
});

Deno.test("two literal databases with one file name collide: an error naming both entries' lines", async () => {
  await withDir(async (dir) => {
    writeRows(`${dir}/x/app.db`, "x");
    writeRows(`${dir}/y/app.db`, "y");
    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      `[s3]\nbucket = "file://${dir}/replica"\n\n[[databases]]\npath = "x/app.db"\n\n` +
        `[[databases]]\npath = "y/app.db"\n`,
    );
    const run = await runWalsync(["watch", "--once", "--config", `${dir}/walsync.toml`]);
    assertExit(run, 2);
    assert.match(
      run.stderr,
      /"\S+\/x\/app\.db" and "\S+\/y\/app\.db" both get replica name "app\.db" from databases\[0\] \(line 4\) and databases\[1\] \(line 7\)/,
    );
    assert.equal(await exists(`${dir}/replica`), false);
  });
});

Deno.test("a glob over same-named files in different directories replicates each under its own name, and restore takes their paths", async () => {
  await withDir(async (dir) => {
    for (const tenant of ["a", "b"]) writeRows(`${dir}/tenants/${tenant}/app.db`, tenant);
    writeRows(`${dir}/main.db`, "main");
    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      `# replicas in a local directory, from the environment\n[s3]\nbucket = "file://\${REPLICA_DIR}"\n\n` +
        `[[databases]]\npath = "tenants/*/app.db"\n\n` +
        `[[databases]]\npath = "main.db"\nname = "primary"\n`,
    );
    const env = { REPLICA_DIR: `${dir}/replica` };
    assertExit(await runWalsync(["watch", "--once"], { cwd: dir, env }), 0);
    const list = await runWalsync(["list", "--json"], { cwd: dir, env });
    assertExit(list, 0);
    const listed = JSON.parse(list.stdout) as { databases: { name: string; txid: number }[] };
    assert.deepEqual(listed.databases.map((d) => [d.name, d.txid]), [
      ["a/app.db", 1],
      ["b/app.db", 1],
      ["primary", 1],
    ]);
    // restore NAME accepts a database path from the config and finds its replica name.
    for (const [path, name] of [["tenants/a/app.db", "a/app.db"], ["main.db", "primary"]]) {
      const out = `${dir}/restored-${name.replaceAll("/", "-")}`;
      const run = await runWalsync(["restore", path, "-o", out, "--json"], { cwd: dir, env });
      assertExit(run, 0);
      assert.equal(JSON.parse(run.stdout).name, name);
      assert.deepEqual(dumpFile(out), dumpFile(`${dir}/${path}`));
    }
    const b = `${dir}/restored-b`;
    assertExit(await runWalsync(["restore", "b/app.db", "-o", b], { cwd: dir, env }), 0);
    assert.deepEqual(dumpFile(b), dumpFile(`${dir}/tenants/b/app.db`));
  });
});

Deno.test("explain shows each setting's value and source: flag over [[databases]] over [sync] over default", async () => {
  await withDir(async (dir) => {
    writeRows(`${dir}/one.db`, "one");
    writeRows(`${dir}/two.db`, "two");
    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      [
        `[s3]`,
        `bucket = "file://${dir}/replica"`,
        ``,
        `[sync]`,
        `interval = "2s"`,
        `max_changes = 500`,
        ``,
        `[[databases]]`,
        `path = "one.db"`,
        `interval = 3`,
        ``,
        `[[databases]]`,
        `path = "two.db"`,
        ``,
      ].join("\n"),
    );
    type Setting = { value: number | boolean; text: string; source: string };
    type Explained = {
      config: string;
      replica: { location: string };
      databases: { name: string; settings: Record<string, Setting> }[];
    };
    const explain = async (...flags: string[]): Promise<Explained> => {
      const run = await runWalsync(["explain", "--json", ...flags], { cwd: dir });
      assertExit(run, 0);
      return JSON.parse(run.stdout);
    };
    const plain = await explain();
    assert.equal(plain.config, `${dir}/walsync.toml`);
    assert.equal(plain.replica.location, `file://${dir}/replica`);
    const [one, two] = plain.databases;
    assert.deepEqual([one.name, two.name], ["one.db", "two.db"]);
    assert.deepEqual(one.settings.interval, {
      value: 3000,
      text: "3s",
      source: "databases[0] (line 10)",
    });
    assert.deepEqual(two.settings.interval, { value: 2000, text: "2s", source: "[sync] (line 5)" });
    assert.deepEqual(two.settings.max_changes, {
      value: 500,
      text: "500",
      source: "[sync] (line 6)",
    });
    assert.deepEqual(two.settings.snapshot_interval, {
      value: 86_400_000,
      text: "24h",
      source: "default",
    });
    const flagged = await explain("--sync-interval", "5s", "--on-startup");
    for (const database of flagged.databases) {
      assert.deepEqual(database.settings.interval, {
        value: 5000,
        text: "5s",
        source: "flag --sync-interval",
      });
      assert.equal(database.settings.on_startup.value, true);
    }
    const text = await runWalsync(["explain"], { cwd: dir });
    assertExit(text, 0);
    assert.match(text.stdout, /interval\s+3s\s+databases\[0\] \(line 10\)/);
    assert.match(text.stdout, /snapshot_interval\s+24h\s+default/);
  });
});

Deno.test("per-database settings from walsync.toml are honoured at run time", async () => {
  await withDir(async (dir) => {
    // The application keeps its connections (and so its WAL) open across both runs: the
    // second run resumes and ships the new rows as TXID 2, with no snapshot of its own.
    const apps = ["eager.db", "lazy.db"].map((name) => {
      const db = openWalDatabase(`${dir}/${name}`);
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
      return db;
    });
    try {
      await Deno.writeTextFile(
        `${dir}/walsync.toml`,
        `[s3]\nbucket = "file://${dir}/replica"\n\n[sync]\nmax_changes = 0\n\n` +
          `[[databases]]\npath = "eager.db"\nmax_changes = 1\n\n[[databases]]\npath = "lazy.db"\n`,
      );
      assertExit(await runWalsync(["watch", "--once"], { cwd: dir }), 0);
      for (const app of apps) app.exec(`INSERT INTO t (v) VALUES ('${"x".repeat(500)}')`);
      assertExit(await runWalsync(["watch", "--once"], { cwd: dir }), 0);
      const snapshots = async (name: string) => {
        const files: string[] = [];
        try {
          for await (const entry of Deno.readDir(`${dir}/replica/${name}/ltx/9`)) {
            if (entry.name.endsWith(".ltx")) files.push(entry.name);
          }
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
        return files.sort();
      };
      // eager.db: TXID 2 carries the new row, then its max_changes = 1 snapshots it (level 9
      // at TXID 2: nothing changed since, so no new TXID).
      assert.deepEqual(await snapshots("eager.db"), ["0000000000000001-0000000000000002.ltx"]);
      assert.deepEqual(await snapshots("lazy.db"), []);
      for (const [i, name] of ["eager.db", "lazy.db"].entries()) {
        const out = `${dir}/restored-${name}`;
        assertExit(await runWalsync(["restore", name, "-o", out], { cwd: dir }), 0);
        const restored = new DatabaseSync(out);
        assert.deepEqual(dumpDatabase(restored), dumpDatabase(apps[i]));
        restored.close();
      }
    } finally {
      for (const app of apps) app.close();
    }
  });
});

Deno.test({
  name:
    "watch picks up a database that appears under a glob while it runs, and lets go of one that is deleted",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withDir(async (dir) => {
      writeRows(`${dir}/tenants/a/app.db`, "a");
      await Deno.writeTextFile(
        `${dir}/walsync.toml`,
        `[s3]\nbucket = "file://${dir}/replica"\n\n[sync]\ninterval = "100ms"\n\n` +
          `[[databases]]\npath = "${dir}/tenants/*/app.db"\n`,
      );
      const walsync = new WalsyncProcess(["watch", "--config", `${dir}/walsync.toml`]);
      try {
        await walsync.ready();
        writeRows(`${dir}/tenants/c/app.db`, "c");
        // Discovery lists globs every 10 s; wait for the new tenant's first file.
        const first = `${dir}/replica/c/app.db/ltx/0/0000000000000001-0000000000000001.ltx`;
        const deadline = Date.now() + 60_000;
        while (!(await exists(first))) {
          if (Date.now() > deadline) {
            throw new Error(`c/app.db never replicated:\n${walsync.stderr}`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        // A tenant deleted while walsync runs: its replication stops, its replica stays.
        for (const suffix of ["", "-wal", "-shm"]) {
          await Deno.remove(`${dir}/tenants/a/app.db${suffix}`).catch(() => {});
        }
        const stopped = /"msg":"stopped replicating","db":"a\/app\.db"/;
        while (!stopped.test(walsync.stderr)) {
          if (Date.now() > deadline) throw new Error(`a/app.db never let go:\n${walsync.stderr}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(await exists(`${dir}/tenants/a/.app.db-walsync/lock`), true);
      } finally {
        const { code, stderr } = await walsync.stop();
        assert.equal(code, 0, stderr);
      }
      const out = `${dir}/restored-c.db`;
      assertExit(
        await runWalsync(["restore", "c/app.db", "-o", out, "-b", `file://${dir}/replica`]),
        0,
      );
      assert.deepEqual(dumpFile(out), dumpFile(`${dir}/tenants/c/app.db`));
      const a = `${dir}/restored-a.db`;
      assertExit(
        await runWalsync(["restore", "a/app.db", "-o", a, "-b", `file://${dir}/replica`]),
        0,
      );
      assert.deepEqual(dumpFile(a).t.map((row) => (row as { tag: string }).tag), ["a", "a", "a"]);
    });
  },
});

Deno.test("explain shows compaction and retention with their sources", async () => {
  await withDir(async (dir) => {
    const explain = async (...flags: string[]) => {
      const text = await runWalsync(["explain", "-b", "./replica", ...flags], { cwd: dir });
      assertExit(text, 0);
      const json = await runWalsync(["explain", "-b", "./replica", "--json", ...flags], {
        cwd: dir,
      });
      assertExit(json, 0);
      const parsed = JSON.parse(json.stdout);
      return { text: text.stdout, retention: parsed.retention, compaction: parsed.compaction };
    };
    const none = await explain();
    assert.match(
      none.text,
      /^compaction +levels 1: 30s, 2: 5m, 3: 1h, snapshots at level 9 +\(default\)$/m,
    );
    assert.match(
      none.text,
      /^retention +pitr 24h \(default\); snapshots beyond it: hourly 24, daily 7, weekly 12, monthly 12; l0_linger 5m \(default\)$/m,
    );
    assert.deepEqual(none.compaction, {
      levelIntervalsMs: [30_000, 300_000, 3_600_000],
      source: "default",
    });
    assert.equal(none.retention.pitrMs, 86_400_000);

    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      `[retention]\nhourly = 48\npitr = "2h"\n[[compaction.levels]]\ninterval = "10s"\n`,
    );
    const set = await explain();
    assert.match(
      set.text,
      /^compaction +levels 1: 10s, snapshots at level 9 +\(\[compaction\] \(line 4\)\)$/m,
    );
    assert.match(set.text, /pitr 2h \(\[retention\] \(line 3\)\); snapshots beyond it: hourly 48,/);
    assert.equal(set.retention.hourly, 48);
    assert.equal(set.retention.sources.hourly, "[retention] (line 2)");

    const flagged = await explain("--pitr", "30m", "--compaction-levels", "off");
    assert.match(flagged.text, /^compaction +levels off \(every level-0 file is kept\)/m);
    assert.match(flagged.text, /pitr 30m \(flag --pitr\)/);
  });
});

Deno.test("a Litestream YAML config given as walsync.toml gets a hint to the migration guide", async () => {
  await withDir(async (dir) => {
    const yaml =
      "# litestream\ndbs:\n  - path: /data/app.db\n    replicas:\n      - url: s3://b/app.db\n";
    const hint =
      'looks like YAML \\(a litestream\\.yml\\?\\); walsync\\.toml is TOML: see "Migrating from Litestream" in the README for the key mapping';
    await Deno.writeTextFile(`${dir}/litestream.yml`, yaml);
    const byName = await runWalsync(["watch", "--config", "litestream.yml", "--once"], {
      cwd: dir,
    });
    assertExit(byName, 2);
    assert.match(byName.stderr, /litestream\.yml:2: TOML syntax error/);
    assert.match(byName.stderr, new RegExp(hint));
    // Caught by its content too, whatever the file is called.
    await Deno.writeTextFile(`${dir}/walsync.toml`, yaml);
    const byContent = await runWalsync(["explain"], { cwd: dir });
    assertExit(byContent, 2);
    assert.match(byContent.stderr, new RegExp(hint));
    // A TOML file with a TOML mistake gets no such hint.
    await Deno.writeTextFile(`${dir}/walsync.toml`, "[sync]\ninterval = 1s\n");
    const toml = await runWalsync(["explain"], { cwd: dir });
    assertExit(toml, 2);
    assert.match(toml.stderr, /TOML syntax error/);
    assert.doesNotMatch(toml.stderr, /YAML/);
  });
});

const s3 = s3TestTargets()[0];

Deno.test({
  name: `walsync.toml [s3] configures watch, list, verify and restore (${s3.label})`,
  ignore: s3.ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await s3.start();
    await withDir(async (dir) => {
      writeRows(`${dir}/tenants/a/app.db`, "a");
      writeRows(`${dir}/tenants/b/app.db`, "b");
      const prefix = `config-${crypto.randomUUID()}`;
      await Deno.writeTextFile(
        `${dir}/walsync.toml`,
        `[s3]\nbucket = "s3://${server.bucket}/${prefix}"\nendpoint = "${server.endpoint}"\n` +
          `region = "${server.region}"\nforce_path_style = true\nstorage_class = "STANDARD"\n\n` +
          `[[databases]]\npath = "tenants/*/app.db"\n`,
      );
      const env = {
        AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      };
      assertExit(await runWalsync(["watch", "--once"], { cwd: dir, env }), 0);
      writeRows(`${dir}/tenants/b/app.db`, "b2");
      assertExit(await runWalsync(["watch", "--once"], { cwd: dir, env }), 0);
      const list = await runWalsync(["list", "--json"], { cwd: dir, env });
      assertExit(list, 0);
      assert.deepEqual(
        (JSON.parse(list.stdout).databases as { name: string; txid: number }[]).map((
          d,
        ) => [d.name, d.txid]),
        [["a/app.db", 1], ["b/app.db", 2]],
      );
      const verify = await runWalsync(["verify", "b/app.db", "--json"], { cwd: dir, env });
      assertExit(verify, 0);
      assert.deepEqual(JSON.parse(verify.stdout).problems, []);
      const out = `${dir}/restored.db`;
      assertExit(
        await runWalsync(["restore", "tenants/b/app.db", "-o", out], { cwd: dir, env }),
        0,
      );
      assert.deepEqual(dumpFile(out), dumpFile(`${dir}/tenants/b/app.db`));
    });
  },
});

stopS3ServersAfterTests();
