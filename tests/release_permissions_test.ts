/**
 * The release binaries are compiled with release/permissions.ts's flags instead of -A. These
 * tests run the CLI here with exactly those flags (and `--no-prompt`, as a compiled binary
 * never prompts) through every command, against a file replica and a real S3 server on
 * loopback, and show that each flag is needed: without any one of them `watch` fails.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { PERMISSION_FLAGS, V8_FLAGS } from "../release/permissions.ts";
import { VERSION } from "../src/version.ts";
import { envWithoutAws } from "./support/aws_env.ts";
import { MOD_PATH } from "./support/cli.ts";
import { s3TestTargets, stopS3ServersAfterTests } from "./support/s3_server.ts";
import { dumpDatabase, integrityCheck, openWalDatabase } from "./support/sqlite.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs walsync with `flags` (default: the release's) and nothing more. */
async function walsync(
  args: string[],
  options: { flags?: readonly string[]; env?: Record<string, string>; cwd?: string } = {},
): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      ...(options.flags ?? PERMISSION_FLAGS),
      V8_FLAGS,
      MOD_PATH,
      ...args,
    ],
    env: options.env ?? envWithoutAws(),
    clearEnv: true,
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function ok(run: Run, what: string): Run {
  assert.equal(run.code, 0, `${what}: exit ${run.code}\n${run.stderr}`);
  return run;
}

/** A WAL database with a table, a few hundred rows and some blobs; returns its dump. */
function makeDatabase(path: string): Record<string, unknown[]> {
  const db = openWalDatabase(path);
  db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, data BLOB)");
  const insert = db.prepare("INSERT INTO notes (body, data) VALUES (?, randomblob(?))");
  for (let i = 0; i < 300; i++) insert.run(`note ${i}`, i * 7);
  const dump = dumpDatabase(db);
  db.close();
  return dump;
}

function restoredDump(path: string): Record<string, unknown[]> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    assert.equal(integrityCheck(db), "ok");
    return dumpDatabase(db);
  } finally {
    db.close();
  }
}

/** watch --once, list, snapshot, restore, verify and explain against `replica`. */
async function roundTrip(dir: string, replica: string, env?: Record<string, string>) {
  const source = makeDatabase(`${dir}/app.db`);
  ok(await walsync(["watch", "--once", `${dir}/app.db`, "-b", replica], { env }), "watch --once");
  const list = ok(await walsync(["list", "-b", replica], { env }), "list");
  assert.match(list.stdout, /^app\.db /m);
  ok(await walsync(["snapshot", `${dir}/app.db`, "-b", replica], { env }), "snapshot");
  ok(
    await walsync(["restore", "app.db", "-o", `${dir}/restored.db`, "-b", replica], { env }),
    "restore",
  );
  assert.deepEqual(restoredDump(`${dir}/restored.db`), source);
  const verify = ok(await walsync(["verify", "app.db", "-b", replica], { env }), "verify");
  assert.match(verify.stdout + verify.stderr, /OK/);
  ok(await walsync(["explain", `${dir}/app.db`, "-b", replica], { env }), "explain");
}

Deno.test("with exactly the release's permissions, version and help work", async () => {
  const version = ok(await walsync(["version"]), "version");
  assert.match(version.stdout, new RegExp(`^walsync ${VERSION.replaceAll(".", "\\.")} `));
  ok(await walsync(["help"]), "help");
  for (const command of ["watch", "restore", "snapshot", "list", "verify", "explain"]) {
    ok(await walsync(["help", command]), `help ${command}`);
  }
});

Deno.test("with exactly the release's permissions, every command works on a file replica", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await roundTrip(dir, `file://${dir}/replica`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const target = s3TestTargets()[0];

Deno.test({
  name: `with exactly the release's permissions, every command works on S3 (${target.label})`,
  ignore: target.ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await target.start();
    const dir = await Deno.makeTempDir();
    const env = envWithoutAws({
      AWS_ENDPOINT_URL_S3: server.endpoint,
      AWS_REGION: server.region,
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    });
    try {
      await roundTrip(dir, `s3://${server.bucket}/permissions-${crypto.randomUUID()}`, env);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("without any one of the release's permission flags, watch fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    makeDatabase(`${dir}/app.db`);
    for (const missing of PERMISSION_FLAGS) {
      const flags = PERMISSION_FLAGS.filter((flag) => flag !== missing);
      const run = await walsync(["watch", "--once", `${dir}/app.db`, "-b", `file://${dir}/r`], {
        flags,
      });
      assert.notEqual(run.code, 0, `watch succeeded without ${missing}`);
    }
    // And with all of them it succeeds on the same database.
    ok(await walsync(["watch", "--once", `${dir}/app.db`, "-b", `file://${dir}/r`]), "watch");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

stopS3ServersAfterTests();
