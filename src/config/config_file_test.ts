import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { ConfigError, loadConfig, parseConfig, type WalsyncConfig } from "./config_file.ts";
import { SYNC_KEYS, SYNC_TOML_KEYS } from "./config_schema.ts";

const FILE = "/etc/walsync/walsync.toml";
const noEnv = () => undefined;

/** The problem lines a config text produces (failing the test if it produces none). */
function problems(text: string, env: (name: string) => string | undefined = noEnv): string[] {
  try {
    parseConfig(text, "walsync.toml", env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error.message.split("\n");
  }
  assert.fail("expected a ConfigError");
}

Deno.test("parseConfig accepts a minimal file and leaves every default unset", () => {
  const config = parseConfig('[[databases]]\npath = "/data/app.db"\n', FILE, noEnv);
  assert.deepEqual(
    config,
    {
      file: FILE,
      s3: {},
      sync: {},
      syncLines: {},
      compaction: { lines: {} },
      log: {},
      databases: [{
        index: 0,
        line: 1,
        path: "/data/app.db",
        glob: false,
        root: "/data",
        overrides: {},
        overrideLines: {},
      }],
    } satisfies WalsyncConfig,
  );
});

Deno.test("parseConfig accepts an empty file: no databases is not an error", () => {
  assert.deepEqual(parseConfig("# nothing yet\n", FILE, noEnv).databases, []);
});

const FULL = `[s3]
bucket = "s3://my-bucket/prefix"
endpoint = "http://127.0.0.1:9000"
region = "us-east-1"
force_path_style = true

[sync]
interval = "500ms"
snapshot_interval = "1h"
max_changes = 5000
max_interval = 30
on_idle = "5s"
on_startup = true
checkpoint_pages = 2000
checkpoint_idle = "2m"
truncate_pages = 200000
max_staging = "512MiB"

[retention]
hourly = 0
daily = 7
weekly = 4
monthly = 1

[log]
format = "json"
level = "debug"

[[databases]]
path = "/data/app.db"
name = "main.db"
interval = "2s"
on_startup = false

[[databases]]
path = "tenants/*/app.db"
`;

Deno.test("parseConfig reads every key of a full file with its line", () => {
  assert.deepEqual(
    parseConfig(FULL, FILE, noEnv),
    {
      file: FILE,
      s3: {
        bucket: { value: "s3://my-bucket/prefix", line: 2 },
        endpoint: { value: "http://127.0.0.1:9000", line: 3 },
        region: { value: "us-east-1", line: 4 },
        forcePathStyle: { value: true, line: 5 },
      },
      sync: {
        syncIntervalMs: 500,
        snapshotIntervalMs: 3_600_000,
        maxChanges: 5000,
        maxIntervalMs: 30_000,
        onIdleMs: 5000,
        onStartup: true,
        checkpointPages: 2000,
        checkpointIdleMs: 120_000,
        truncatePages: 200_000,
        maxStagingBytes: 512 * 1024 ** 2,
      },
      syncLines: {
        syncIntervalMs: 8,
        snapshotIntervalMs: 9,
        maxChanges: 10,
        maxIntervalMs: 11,
        onIdleMs: 12,
        onStartup: 13,
        checkpointPages: 14,
        checkpointIdleMs: 15,
        truncatePages: 16,
        maxStagingBytes: 17,
      },
      compaction: {
        hourly: 0,
        daily: 7,
        weekly: 4,
        monthly: 1,
        lines: { hourly: 20, daily: 21, weekly: 22, monthly: 23 },
      },
      log: { format: "json", level: "debug" },
      databases: [
        {
          index: 0,
          line: 29,
          path: "/data/app.db",
          glob: false,
          root: "/data",
          name: "main.db",
          overrides: { syncIntervalMs: 2000, onStartup: false },
          overrideLines: { syncIntervalMs: 32, onStartup: 33 },
        },
        {
          index: 1,
          line: 35,
          path: "/etc/walsync/tenants/*/app.db",
          glob: true,
          root: "/etc/walsync/tenants",
          overrides: {},
          overrideLines: {},
        },
      ],
    } satisfies WalsyncConfig,
  );
});

Deno.test("SYNC_KEYS and SYNC_TOML_KEYS map TOML keys and settings fields both ways", () => {
  assert.equal(SYNC_KEYS.interval, "syncIntervalMs");
  assert.equal(SYNC_KEYS.max_staging, "maxStagingBytes");
  assert.equal(SYNC_TOML_KEYS.checkpointIdleMs, "checkpoint_idle");
  assert.equal(Object.keys(SYNC_KEYS).length, 12);
  for (const [key, field] of Object.entries(SYNC_KEYS)) assert.equal(SYNC_TOML_KEYS[field], key);
});

Deno.test("parseConfig suggests the section or key a typo meant", () => {
  assert.deepEqual(problems('[sync]\nintervall = "1s"\n'), [
    'walsync.toml:2: unknown key "intervall" in [sync]; did you mean "interval"?',
  ]);
  assert.deepEqual(problems('\n[sync]\nsnapshot_intrval = "1h"\n'), [
    'walsync.toml:3: unknown key "snapshot_intrval" in [sync]; did you mean "snapshot_interval"?',
  ]);
  assert.deepEqual(problems('# typo below\n[sycn]\ninterval = "1s"\n'), [
    "walsync.toml:2: unknown section [sycn]; did you mean [sync]?",
  ]);
  assert.deepEqual(problems('[[databse]]\npath = "/a.db"\n'), [
    "walsync.toml:1: unknown section [[databse]]; did you mean [[databases]]?",
  ]);
  assert.deepEqual(problems('[[databases]]\npath = "/a.db"\nmax_chagnes = 3\n'), [
    'walsync.toml:3: unknown key "max_chagnes" in databases[0]; did you mean "max_changes"?',
  ]);
});

Deno.test("parseConfig names unknown keys without a near match and misplaced keys", () => {
  assert.deepEqual(problems("[s3]\ncompression = true\n[monitoring]\nport = 1\n"), [
    'walsync.toml:2: unknown key "compression" in [s3]',
    "walsync.toml:3: unknown section [monitoring]",
  ]);
  assert.deepEqual(problems('interval = "1s"\npath = "/a.db"\nwhatever = 1\n'), [
    'walsync.toml:1: unknown key "interval" at the top level; it belongs in [sync]',
    'walsync.toml:2: unknown key "path" at the top level; it belongs in [[databases]]',
    'walsync.toml:3: unknown key "whatever" at the top level',
  ]);
  assert.deepEqual(problems('[[databases]]\npath = "/a.db"\nmax_staging = "1GiB"\n'), [
    'walsync.toml:3: unknown key "max_staging" in databases[0]; max_staging applies to all databases, so set it in [sync]',
  ]);
});

Deno.test("parseConfig rejects values of the wrong type", () => {
  assert.deepEqual(
    problems(
      '[s3]\nregion = 5\nforce_path_style = "yes"\n[sync]\non_startup = 1\n[[databases]]\npath = "/a.db"\nmax_changes = "ten"\n',
    ),
    [
      "walsync.toml:2: s3.region must be a string, got 5",
      'walsync.toml:3: s3.force_path_style must be true or false, got "yes"',
      "walsync.toml:5: sync.on_startup must be true or false, got 1",
      'walsync.toml:8: databases[0].max_changes must be a whole number >= 0, got "ten"',
    ],
  );
  assert.deepEqual(problems('sync = 5\ndatabases = "x"\n[log]\nlevel = ["info"]\n'), [
    "walsync.toml:1: sync must be a table ([sync]), got 5",
    'walsync.toml:2: databases must be [[databases]] tables, got "x"',
    'walsync.toml:4: log.level must be one of "debug", "info", "warn", "error", got an array',
  ]);
  assert.deepEqual(problems("databases = [1]\n"), [
    "walsync.toml:1: databases[0] must be a table ([[databases]]), got 1",
  ]);
});

Deno.test("parseConfig rejects values out of range", () => {
  assert.deepEqual(
    problems(
      "[sync]\ncheckpoint_pages = 0\ntruncate_pages = -5\nmax_changes = -1\ncheckpoint_idle = 0\n[retention]\ndaily = -1\nhourly = 2.0\n",
    ),
    [
      "walsync.toml:2: sync.checkpoint_pages must be a whole number >= 1, got 0",
      "walsync.toml:3: sync.truncate_pages must be a whole number >= 1, got -5",
      "walsync.toml:4: sync.max_changes must be a whole number >= 0, got -1",
      'walsync.toml:5: sync.checkpoint_idle must be a duration > 0 ("500ms", "5s", "1m", "1h" or whole seconds), got 0',
      "walsync.toml:7: retention.daily must be a whole number >= 0, got -1",
      "walsync.toml:8: retention.hourly must be a whole number >= 0, got 2.0",
    ],
  );
});

Deno.test("parseConfig reads durations as strings or whole seconds", () => {
  const config = parseConfig(
    '[sync]\ninterval = "1.5s"\nsnapshot_interval = 7200\non_idle = "30"\nmax_interval = 0\n',
    FILE,
    noEnv,
  );
  assert.deepEqual(config.sync, {
    syncIntervalMs: 1500,
    snapshotIntervalMs: 7_200_000,
    onIdleMs: 30_000,
    maxIntervalMs: 0,
  });
});

Deno.test("parseConfig rejects bad, negative and fractional durations", () => {
  const rule = 'must be a duration >= 0 ("500ms", "5s", "1m", "1h" or whole seconds)';
  assert.deepEqual(
    problems(
      '[sync]\ninterval = "fast"\nsnapshot_interval = -1\non_idle = 1.5\nmax_interval = "-2s"\n',
    ),
    [
      `walsync.toml:2: sync.interval ${rule}, got "fast"`,
      `walsync.toml:3: sync.snapshot_interval ${rule}, got -1`,
      `walsync.toml:4: sync.on_idle ${rule}, got 1.5`,
      `walsync.toml:5: sync.max_interval ${rule}, got "-2s"`,
    ],
  );
});

Deno.test("parseConfig reads max_staging as a size string or bytes, at least 1 MiB", () => {
  assert.equal(
    parseConfig('[sync]\nmax_staging = "2GiB"', FILE, noEnv).sync.maxStagingBytes,
    2 * 1024 ** 3,
  );
  assert.equal(
    parseConfig("[sync]\nmax_staging = 1048576", FILE, noEnv).sync.maxStagingBytes,
    1048576,
  );
  const rule = 'must be a size >= 1MiB ("512MiB", "1GiB" or whole bytes)';
  assert.deepEqual(problems('[sync]\nmax_staging = "lots"\n'), [
    `walsync.toml:2: sync.max_staging ${rule}, got "lots"`,
  ]);
  assert.deepEqual(problems("[sync]\nmax_staging = 1048575\n"), [
    `walsync.toml:2: sync.max_staging ${rule}, got 1048575`,
  ]);
});

Deno.test("parseConfig checks log enums and suggests the near miss", () => {
  assert.deepEqual(problems('[log]\nformat = "yaml"\nlevel = "wran"\n'), [
    'walsync.toml:2: log.format must be one of "text", "json", got "yaml"',
    'walsync.toml:3: log.level must be one of "debug", "info", "warn", "error", got "wran"; did you mean "warn"?',
  ]);
});

Deno.test("parseConfig checks the replica URL and endpoint and normalises a bare bucket", () => {
  const bare = parseConfig('[s3]\nbucket = "my-bucket"\n', FILE, noEnv);
  assert.deepEqual(bare.s3.bucket, { value: "s3://my-bucket", line: 2 });
  const file = parseConfig('[s3]\nbucket = "file:///var/backups"\n', FILE, noEnv);
  assert.deepEqual(file.s3.bucket, { value: "file:///var/backups", line: 2 });
  const relative = parseConfig('[s3]\nbucket = "./replica"\n', FILE, noEnv);
  assert.deepEqual(relative.s3.bucket, { value: "file:///etc/walsync/replica", line: 2 });
  const forms = "s3://bucket/prefix, file:///dir, or a path starting with / or ./";
  assert.deepEqual(problems('[s3]\nbucket = "gs://b"\n'), [
    `walsync.toml:2: s3.bucket: Replica URL "gs://b" is not valid: scheme "gs" is not supported; use ${forms}`,
  ]);
  assert.deepEqual(problems('[s3]\nbucket = "s3://"\n\nendpoint = "127.0.0.1:9000"\n'), [
    `walsync.toml:2: s3.bucket: Replica URL "s3://" has no bucket name; use ${forms}`,
    'walsync.toml:4: s3.endpoint must be an http:// or https:// URL, got "127.0.0.1:9000"',
  ]);
  assert.deepEqual(problems('[s3]\nbucket = "file://backups"\nregion = ""\n'), [
    `walsync.toml:2: s3.bucket: Replica URL "file://backups" is not valid; did you mean "file:///backups"? Use ${forms}`,
    "walsync.toml:3: s3.region must not be empty",
  ]);
  assert.deepEqual(problems('[s3]\nbucket = "My Bucket"\n'), [
    `walsync.toml:2: s3.bucket: Replica URL "My Bucket" is not valid; did you mean "./My Bucket"? Use ${forms}`,
  ]);
  assert.deepEqual(
    problems(
      '[s3]\nbucket = "/var/backups"\nendpoint = "http://127.0.0.1:9000"\nregion = "eu"\n',
    ),
    [
      'walsync.toml:3: s3.endpoint applies to s3:// replicas only, but s3.bucket (line 2) is a file replica ("file:///var/backups")',
      'walsync.toml:4: s3.region applies to s3:// replicas only, but s3.bucket (line 2) is a file replica ("file:///var/backups")',
    ],
  );
});

Deno.test("parseConfig requires a usable path and a valid name in every database entry", () => {
  assert.deepEqual(
    problems(
      '[[databases]]\npath = "/a.db"\n\n[[databases]]\nname = "b.db"\n\n[[databases]]\npath = ""\n[[databases]]\npath = "/data/"\n[[databases]]\npath = "/data/app.db-wal"\nname = "../escape"\n',
    ),
    [
      "walsync.toml:4: databases[1] has no path; every [[databases]] entry needs one",
      "walsync.toml:8: databases[2].path must not be empty",
      'walsync.toml:10: databases[3].path "/data/" names a directory; give a database file or a glob such as "/data/*.db"',
      'walsync.toml:12: databases[4].path "/data/app.db-wal" is a SQLite side file; give the database file itself',
      'walsync.toml:13: databases[4].name: Replica name "../escape" is invalid; use a relative path of plain segments, e.g. "app.db" or "tenants/a/app.db"',
    ],
  );
});

Deno.test("parseConfig reports a TOML syntax error with its line", () => {
  assert.deepEqual(problems('[sync]\ninterval = "1s"\non_idle = \n'), [
    "walsync.toml:3: TOML syntax error: invalid value (column 11)",
  ]);
  assert.deepEqual(problems("[sync]\na = 1\na = 2\n"), [
    "walsync.toml:3: TOML syntax error: trying to redefine an already defined table or value (column 1)",
  ]);
});

Deno.test("parseConfig collects every problem into one ConfigError, in line order", () => {
  const text = `[[databases]]
max_changes = "many"

[sync]
intervall = "1s"
checkpoint_pages = 0
[log]
level = "loud"
`;
  let error: unknown;
  try {
    parseConfig(text, "conf/walsync.toml", noEnv);
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ConfigError);
  assert.ok(error instanceof UsageError, "the CLI exits 2 for usage errors");
  assert.deepEqual(error.problems.map((p) => [p.file, p.line, p.key]), [
    ["conf/walsync.toml", 1, "databases[0]"],
    ["conf/walsync.toml", 2, "databases[0].max_changes"],
    ["conf/walsync.toml", 5, "sync.intervall"],
    ["conf/walsync.toml", 6, "sync.checkpoint_pages"],
    ["conf/walsync.toml", 8, "log.level"],
  ]);
  assert.equal(error.message.split("\n").length, 5);
  assert.match(error.message, /^conf\/walsync.toml:1: databases\[0\] has no path/);
});

Deno.test("parseConfig expands $VAR, ${VAR} and $$ in string values", () => {
  const env = (name: string) => ({ BUCKET: "prod", DIR: "/srv", LEVEL: "warn", SYNC: "5s" })[name];
  const config = parseConfig(
    '[s3]\nbucket = "s3://${BUCKET}/x"\n[sync]\ninterval = "$SYNC"\n[log]\nlevel = "$LEVEL"\n[[databases]]\npath = "$DIR/app.db"\nname = "cost$$"\n',
    FILE,
    env,
  );
  assert.equal(config.s3.bucket?.value, "s3://prod/x");
  assert.equal(config.sync.syncIntervalMs, 5000);
  assert.equal(config.log.level, "warn");
  assert.equal(config.databases[0].path, "/srv/app.db");
  assert.equal(config.databases[0].name, "cost$");
});

Deno.test("parseConfig names an unset environment variable with its key and line", () => {
  assert.deepEqual(problems('[s3]\nregion = "x"\nbucket = "$BUCKET"\n'), [
    'walsync.toml:3: s3.bucket: environment variable "BUCKET" is not set',
  ]);
  assert.deepEqual(problems('[[databases]]\npath = "${DATA}/a.db"\n'), [
    'walsync.toml:2: databases[0].path: environment variable "DATA" is not set',
  ]);
  assert.deepEqual(problems('[sync]\ninterval = "$"\n'), [
    'walsync.toml:2: sync.interval: "$" has a "$" that starts no variable; write $$ for a literal $',
  ]);
});

Deno.test("parseConfig resolves relative database paths against the config's directory", () => {
  const text = '[[databases]]\npath = "data/../app.db"\n[[databases]]\npath = "./t/*/x.db"\n';
  const absolute = parseConfig(text, "/etc/walsync/walsync.toml", noEnv);
  assert.deepEqual(absolute.databases.map((d) => [d.path, d.root]), [
    ["/etc/walsync/app.db", "/etc/walsync"],
    ["/etc/walsync/t/*/x.db", "/etc/walsync/t"],
  ]);
  const relative = parseConfig(text, "conf/walsync.toml", noEnv);
  assert.equal(relative.file, `${Deno.cwd()}/conf/walsync.toml`);
  assert.equal(relative.databases[0].path, `${Deno.cwd()}/conf/app.db`);
});

Deno.test("loadConfig reads a file and names a missing one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-config-" });
  try {
    await Deno.writeTextFile(`${dir}/walsync.toml`, '[[databases]]\npath = "app.db"\n');
    const config = await loadConfig(`${dir}/walsync.toml`);
    assert.equal(config.file, `${dir}/walsync.toml`);
    assert.equal(config.databases[0].path, `${dir}/app.db`);
    await assert.rejects(() => loadConfig(`${dir}/missing.toml`), {
      name: "ConfigError",
      message: `Config file "${dir}/missing.toml" not found`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseConfig reads [[compaction.levels]] and [retention] durations, with lines", () => {
  const config = parseConfig(
    '[[compaction.levels]]\ninterval = "10s"\n[[compaction.levels]]\ninterval = 60\n' +
      '[retention]\npitr = "2h"\nl0_linger = "1m"\nmonthly = 3\n',
    FILE,
    noEnv,
  );
  assert.deepEqual(config.compaction, {
    levelIntervalsMs: [10_000, 60_000],
    levelsLine: 1,
    pitrMs: 7_200_000,
    l0LingerMs: 60_000,
    monthly: 3,
    lines: { pitr: 6, l0_linger: 7, monthly: 8 },
  });
});

Deno.test("parseConfig names the line of a bad compaction level or retention key", () => {
  const text = '[retention]\npitr = "soon"\n[[compaction.levels]]\ninterval = "0s"\n' +
    '[[compaction.levels]]\nperiod = "1m"\ninterval = "1m"\n';
  assert.throws(() => parseConfig(text, FILE, noEnv), (error) => {
    const message = (error as Error).message;
    assert.match(message, /walsync\.toml:2: retention\.pitr must be a duration/);
    assert.match(
      message,
      /walsync\.toml:4: compaction\.levels\[0\]\.interval must be a duration > 0/,
    );
    assert.match(message, /walsync\.toml:6: unknown key "period" in \[\[compaction\.levels\]\]/);
    return true;
  });
});
