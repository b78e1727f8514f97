import assert from "node:assert/strict";
import { parseConfig } from "../src/config/config_file.ts";

Deno.test("the annotated walsync.toml in the README is a valid config", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const start = readme.indexOf("```toml\n");
  assert.ok(start >= 0, "the README has a toml example");
  const text = readme.slice(start + "```toml\n".length, readme.indexOf("```", start + 7));
  const config = parseConfig(
    text,
    "/etc/walsync/walsync.toml",
    (name) => name === "S3_ENDPOINT" ? "http://127.0.0.1:9000" : undefined,
  );
  assert.equal(config.s3.bucket?.value, "s3://acme-backups/prod");
  assert.equal(config.s3.endpoint?.value, "http://127.0.0.1:9000");
  assert.equal(config.s3.storageClass?.value, "STANDARD_IA");
  assert.deepEqual(
    config.databases.map((d) => [d.path, d.glob, d.name ?? null]),
    [
      ["/var/lib/app/app.db", false, null],
      ["/srv/tenants/*/app.db", true, null],
      ["/etc/walsync/reports/stats.db", false, "stats"],
    ],
  );
  assert.equal(config.databases[0].overrides.snapshotIntervalMs, 30 * 60_000);
  assert.equal(config.databases[1].overrides.syncIntervalMs, 5000);
  assert.deepEqual(config.compaction.levelIntervalsMs, [30_000, 300_000, 3_600_000]);
  assert.equal(config.compaction.pitrMs, 24 * 3_600_000);
  assert.equal(config.compaction.l0LingerMs, 5 * 60_000);
});
