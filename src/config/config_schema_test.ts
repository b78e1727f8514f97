import assert from "node:assert/strict";
import {
  checkEnum,
  checkHttpUrl,
  checkValue,
  DEFAULT_SYNC_SETTINGS,
  describeValue,
  SECTION_KEYS,
  SYNC_VALUE_KINDS,
} from "./config_schema.ts";
import { ConfigError, parseConfig } from "./config_file.ts";

Deno.test("describeValue quotes values the way TOML wrote them", () => {
  assert.deepEqual(
    ["ten", 5n, -1n, 1.5, 2, true, Infinity, NaN, [], { a: 1 }].map(describeValue),
    ['"ten"', "5", "-1", "1.5", "2.0", "true", "inf", "nan", "an array", "a table"],
  );
  assert.equal(
    describeValue(new Date("2024-01-02T00:00:00Z")),
    "a date (2024-01-02T00:00:00.000Z)",
  );
});

Deno.test("checkValue rejects integers beyond what a number holds exactly", () => {
  const big = 2n ** 60n;
  assert.equal(checkValue({ type: "integer", min: 0 }, big).ok, false);
  assert.equal(checkValue({ type: "duration", minMs: 0 }, big).ok, false);
  assert.equal(checkValue({ type: "size", minBytes: 0 }, big).ok, false);
  assert.deepEqual(checkValue({ type: "duration", minMs: 0 }, 3n), { ok: true, value: 3000 });
  assert.deepEqual(checkValue({ type: "size", minBytes: 0 }, "1KiB"), { ok: true, value: 1024 });
});

Deno.test("every default sync setting passes its own check", () => {
  for (const [field, kind] of Object.entries(SYNC_VALUE_KINDS)) {
    const value = DEFAULT_SYNC_SETTINGS[field as keyof typeof DEFAULT_SYNC_SETTINGS];
    const raw = kind.type === "duration"
      ? `${value}ms`
      : typeof value === "number"
      ? BigInt(value)
      : value;
    assert.deepEqual(checkValue(kind, raw), { ok: true, value }, field);
  }
});

Deno.test("database entries accept every sync key except max_staging", () => {
  assert.deepEqual(SECTION_KEYS.databases, [
    "path",
    "name",
    "interval",
    "snapshot_interval",
    "max_changes",
    "max_interval",
    "on_idle",
    "on_startup",
    "checkpoint_pages",
    "checkpoint_idle",
    "truncate_pages",
    "idle_release",
  ]);
});

Deno.test("checkEnum and checkHttpUrl accept what they should", () => {
  assert.deepEqual(checkEnum("json", ["text", "json"]), { ok: true, value: "json" });
  assert.equal(checkEnum("JSON", ["text", "json"]).ok, false);
  assert.equal(checkHttpUrl("https://s3.example.com").ok, true);
  assert.equal(checkHttpUrl("http://").ok, false);
  assert.equal(checkHttpUrl("s3://x").ok, false);
});

Deno.test("[s3] storage_class accepts classes readable at once and refuses archive ones", () => {
  const config = parseConfig(
    '[s3]\nbucket = "s3://bkt/p"\nstorage_class = "STANDARD_IA"\nsse_kms_key_id = "alias/walsync"\n',
    "walsync.toml",
    () => undefined,
  );
  assert.deepEqual(config.s3.storageClass, { value: "STANDARD_IA", line: 3 });
  assert.deepEqual(config.s3.sseKmsKeyId, { value: "alias/walsync", line: 4 });
  const problems = (text: string) => {
    try {
      parseConfig(text, "walsync.toml", () => undefined);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    assert.fail("expected a ConfigError");
  };
  assert.equal(
    problems('[s3]\nstorage_class = "GLACIER"\n'),
    'walsync.toml:2: s3.storage_class "GLACIER" needs a thaw before every read, so restores would fail; use GLACIER_IR or a lifecycle rule on old snapshots',
  );
  assert.equal(
    problems('[s3]\nstorage_class = "STANDARD_AI"\n'),
    'walsync.toml:2: s3.storage_class must be one of "STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "REDUCED_REDUNDANCY", "EXPRESS_ONEZONE", got "STANDARD_AI"; did you mean "STANDARD_IA"?',
  );
  assert.equal(
    problems('[s3]\nsse_kms_key_id = ""\n'),
    "walsync.toml:2: s3.sse_kms_key_id must not be empty",
  );
});

Deno.test("[s3] values with credentials are refused without echoing them, and bucket names are checked", () => {
  const message = (text: string) => {
    try {
      parseConfig(text, "walsync.toml", () => undefined);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    assert.fail("expected a ConfigError");
  };
  const endpoint = message('[s3]\nendpoint = "http://AKIA:s3cr3t@127.0.0.1:9000"\n');
  assert.equal(
    endpoint,
    "walsync.toml:2: s3.endpoint must not carry credentials; use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
  );
  const bucket = message('[s3]\nbucket = "s3://AKIA:s3cr3t@bkt/p"\n');
  assert.match(bucket, /^walsync\.toml:2: s3\.bucket: Replica URL must not carry/);
  for (const text of [endpoint, bucket]) assert.doesNotMatch(text, /s3cr3t/);
  assert.match(message('[s3]\nbucket = "s3://b/p"\n'), /has no valid bucket name \("b"\)/);
});
