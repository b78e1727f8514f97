/**
 * Replica URLs through the real CLI: one parser for `-b` and `[s3] bucket`, a mistyped URL is
 * a usage error with a hint that writes nothing, `--endpoint` needs an S3 replica, and `list`
 * of a file replica whose directory does not exist is an error.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { envWithoutAws } from "./support/aws_env.ts";
import { type CliRun, runWalsync } from "./support/cli.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-url-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function assertExit(run: CliRun, code: number): void {
  assert.equal(run.code, code, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

function createDatabase(path: string): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  db.exec("INSERT INTO t (v) VALUES ('one')");
  db.close();
}

async function entries(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

const FORMS = "Use s3://bucket/prefix, file:///dir, or a path starting with / or ./";

/** A mistyped URL, and what the hint should suggest for it. */
const MISTYPED: { url: string; suggestion: string }[] = [
  { url: "s3:/bucket", suggestion: '"s3://bucket"' },
  { url: "s3//bucket", suggestion: '"s3://bucket"' },
  { url: "s3:bucket/prefix", suggestion: '"s3://bucket/prefix"' },
  { url: "bucket", suggestion: '"s3://bucket" or "./bucket"' },
  { url: "backups/walsync", suggestion: '"s3://backups/walsync" or "./backups/walsync"' },
  { url: "file:/var/backups", suggestion: '"file:///var/backups"' },
  { url: "file//var/backups", suggestion: '"file:///var/backups"' },
];

Deno.test("a mistyped -b replica URL exits 2 with a did-you-mean and creates nothing", async () => {
  await withDir(async (dir) => {
    createDatabase(`${dir}/app.db`);
    const before = await entries(dir);
    for (const { url, suggestion } of MISTYPED) {
      const message = `Replica URL "${url}" is not valid; did you mean ${suggestion}? ${FORMS}`;
      for (
        const args of [
          ["watch", "app.db", "-b", url, "--once"],
          ["watch", "app.db", "-b", url, "--endpoint", "http://127.0.0.1:1", "--once"],
          ["snapshot", "app.db", "-b", url],
          ["list", "-b", url],
          ["restore", "app.db", "-o", "out.db", "-b", url],
          ["verify", "app.db", "-b", url],
        ]
      ) {
        const run = await runWalsync(args, { cwd: dir });
        assertExit(run, 2);
        assert.equal(run.stderr, `error: ${message}\n`, args.join(" "));
        assert.deepEqual(await entries(dir), before, `${args.join(" ")} wrote nothing`);
      }
    }
  });
});

Deno.test("walsync.toml's [s3] bucket goes through the same parser and gives the same message", async () => {
  await withDir(async (dir) => {
    createDatabase(`${dir}/app.db`);
    for (const { url, suggestion } of MISTYPED.filter((m) => m.url !== "bucket")) {
      await Deno.writeTextFile(`${dir}/walsync.toml`, `[s3]\nbucket = "${url}"\n`);
      const run = await runWalsync(["watch", "app.db", "--once"], { cwd: dir });
      assertExit(run, 2);
      assert.equal(
        run.stderr,
        `error: ${dir}/walsync.toml:2: s3.bucket: Replica URL "${url}" is not valid; did you mean ${suggestion}? ${FORMS}\n`,
      );
    }
    assert.deepEqual(await entries(dir), ["app.db", "walsync.toml"]);
  });
});

Deno.test("a bare bucket name is s3://name in [s3] bucket, a relative path there starts at the config's directory", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/etc`);
    const explain = async (bucket: string) => {
      await Deno.writeTextFile(`${dir}/etc/walsync.toml`, `[s3]\nbucket = "${bucket}"\n`);
      const run = await runWalsync(["explain", "--json", "-c", "etc/walsync.toml"], { cwd: dir });
      assertExit(run, 0);
      return JSON.parse(run.stdout).replica.location;
    };
    assert.equal(await explain("my-bucket"), "s3://my-bucket/");
    assert.equal(await explain("./replica"), `file://${dir}/etc/replica`);
    assert.equal(await explain("../replica"), `file://${dir}/replica`);
    assert.equal(await explain(`${dir}/abs`), `file://${dir}/abs`);
  });
});

Deno.test("-b takes s3://, file:///, and paths starting with /, ./ or ../ (relative to the working directory)", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/sub`);
    createDatabase(`${dir}/sub/app.db`);
    const cwd = `${dir}/sub`;
    for (
      const [url, root] of [
        ["./replica", `${dir}/sub/replica`],
        ["../up", `${dir}/up`],
        [`${dir}/abs`, `${dir}/abs`],
        [`file://${dir}/url`, `${dir}/url`],
      ]
    ) {
      assertExit(await runWalsync(["watch", "app.db", "-b", url, "--once"], { cwd }), 0);
      const list = await runWalsync(["list", "-b", url, "--json"], { cwd });
      assertExit(list, 0);
      const listed = JSON.parse(list.stdout);
      assert.equal(listed.replica, `file://${root}`);
      assert.deepEqual(listed.databases.map((d: { name: string }) => d.name), ["app.db"]);
    }
    const explain = await runWalsync(["explain", "--json", "-b", "s3://bkt/p"], { cwd });
    assertExit(explain, 0);
    assert.equal(JSON.parse(explain.stdout).replica.location, "s3://bkt/p");
  });
});

Deno.test("--endpoint with a file replica exits 2, from the flag or from walsync.toml", async () => {
  await withDir(async (dir) => {
    createDatabase(`${dir}/app.db`);
    const flag = await runWalsync(
      ["watch", "app.db", "-b", `file://${dir}/r`, "--endpoint", "http://127.0.0.1:9000", "--once"],
      { cwd: dir },
    );
    assertExit(flag, 2);
    assert.match(
      flag.stderr,
      new RegExp(
        `--endpoint "http://127\\.0\\.0\\.1:9000" applies to s3:// replicas only, not to "file://${dir}/r"`,
      ),
    );
    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      `[s3]\nbucket = "file://${dir}/r"\nendpoint = "http://127.0.0.1:9000"\n`,
    );
    const config = await runWalsync(["watch", "app.db", "--once"], { cwd: dir });
    assertExit(config, 2);
    assert.match(
      config.stderr,
      /walsync\.toml:3: s3\.endpoint applies to s3:\/\/ replicas only, but s3\.bucket \(line 2\) is a file replica/,
    );
    assert.deepEqual(await entries(dir), ["app.db", "walsync.toml"]);

    // -b file:///dir replaces a replica configured for S3: its S3 settings are not used.
    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      `[s3]\nbucket = "s3://bkt/p"\nendpoint = "http://127.0.0.1:9000"\nregion = "eu"\n`,
    );
    const explain = await runWalsync(["explain", "--json", "-b", "./r"], { cwd: dir });
    assertExit(explain, 0);
    const { replica } = JSON.parse(explain.stdout);
    assert.equal(replica.location, `file://${dir}/r`);
    assert.equal(replica.endpoint, null);
    assert.equal(replica.region, null);
    assertExit(await runWalsync(["watch", "app.db", "-b", "./r", "--once"], { cwd: dir }), 0);
  });
});

Deno.test("list of a file replica whose directory does not exist exits 1 naming it", async () => {
  await withDir(async (dir) => {
    for (const url of [`file://${dir}/nonexistent`, "./nonexistent"]) {
      const run = await runWalsync(["list", "-b", url], { cwd: dir });
      assertExit(run, 1);
      assert.equal(run.stdout, "");
      assert.match(
        run.stderr,
        new RegExp(`Replica directory "${dir}/nonexistent" does not exist; check the replica URL`),
      );
    }
    await Deno.writeTextFile(`${dir}/file`, "");
    const notDir = await runWalsync(["list", "-b", `file://${dir}/file`], { cwd: dir });
    assertExit(notDir, 1);
    assert.match(notDir.stderr, new RegExp(`Replica directory "${dir}/file" is not a directory`));
    assert.deepEqual(await entries(dir), ["file"]);
  });
});

Deno.test("an s3:// replica with neither a region nor an endpoint names both ways out", async () => {
  await withDir(async (dir) => {
    const run = await runWalsync(["list", "-b", "s3://walsync-test/p"], {
      cwd: dir,
      env: envWithoutAws(),
      clearEnv: true,
    });
    assertExit(run, 1);
    assert.match(
      run.stderr,
      /No AWS region configured for bucket "walsync-test"; set AWS_REGION or \?region= in the replica URL, or for an S3-compatible server give its endpoint with --endpoint, \[s3\] endpoint or AWS_ENDPOINT_URL_S3\n/,
    );
  });
});
