import assert from "node:assert/strict";
import {
  databaseKeyPrefix,
  decodeMetadata,
  encodeMetadata,
  formatRfc3339Nano,
  levelKeyPrefix,
  ltxFileKey,
  normalizePrefix,
  objectKey,
  parseLtxKey,
  parseRfc3339,
  parseS3Url,
} from "./s3_layout.ts";

Deno.test("S3 keys follow Litestream 0.5: prefix, name, 4-hex level, 16-hex TXID range", () => {
  assert.equal(
    ltxFileKey("prefix", "app.db", { level: 0, minTxid: 1, maxTxid: 1 }),
    "prefix/app.db/0000/0000000000000001-0000000000000001.ltx",
  );
  assert.equal(
    ltxFileKey("a/b", "tenants/x.db", { level: 9, minTxid: 1, maxTxid: 0x1a }),
    "a/b/tenants/x.db/0009/0000000000000001-000000000000001a.ltx",
  );
  assert.equal(levelKeyPrefix("", "app.db", 10), "app.db/000a/");
  assert.equal(databaseKeyPrefix("", "app.db"), "app.db");
});

Deno.test("S3 prefixes join with exactly one slash and an empty prefix adds none", () => {
  for (const raw of ["backups", "/backups", "backups/", "//backups//"]) {
    assert.equal(normalizePrefix(raw), "backups");
  }
  assert.equal(normalizePrefix("a//b/"), "a/b");
  assert.equal(normalizePrefix("/"), "");
  assert.equal(objectKey("", ".walsync-lease.json"), ".walsync-lease.json");
  assert.equal(objectKey("backups", ".walsync-lease.json"), "backups/.walsync-lease.json");
});

Deno.test("S3 key parsing finds database, level and range and skips foreign keys", () => {
  assert.deepEqual(
    parseLtxKey("p", "p/tenants/a.db/0009/0000000000000001-0000000000000003.ltx"),
    { name: "tenants/a.db", level: 9, minTxid: 1, maxTxid: 3 },
  );
  assert.deepEqual(
    parseLtxKey("", "app.db/0000/0000000000000002-0000000000000002.ltx"),
    { name: "app.db", level: 0, minTxid: 2, maxTxid: 2 },
  );
  for (
    const key of [
      "q/app.db/0000/0000000000000001-0000000000000001.ltx", // other prefix
      "p/app.db/0000/0000000000000001-0000000000000001.ltx.tmp",
      "p/app.db/000/0000000000000001-0000000000000001.ltx",
      "p/app.db/0000/1-1.ltx",
      "p/.walsync-lease.json",
      "p/0000/0000000000000001-0000000000000001.ltx", // no database name
      "p/a/../0000/0000000000000001-0000000000000001.ltx",
    ]
  ) {
    assert.equal(parseLtxKey("p", key), null, key);
  }
});

Deno.test("S3 timestamps are formatted like Go's RFC3339Nano in UTC", () => {
  assert.equal(formatRfc3339Nano(new Date(1_700_000_000_123)), "2023-11-14T22:13:20.123Z");
  assert.equal(formatRfc3339Nano(new Date(1_700_000_000_120)), "2023-11-14T22:13:20.12Z");
  assert.equal(formatRfc3339Nano(new Date(1_700_000_000_100)), "2023-11-14T22:13:20.1Z");
  assert.equal(formatRfc3339Nano(new Date(1_700_000_000_000)), "2023-11-14T22:13:20Z");
});

Deno.test("RFC 3339 parsing accepts nanoseconds and offsets and rejects other text", () => {
  assert.equal(parseRfc3339("2023-11-14T22:13:20.123456789Z")?.getTime(), 1_700_000_000_123);
  assert.equal(parseRfc3339("2023-11-14T22:13:20Z")?.getTime(), 1_700_000_000_000);
  assert.equal(parseRfc3339("2023-11-14T23:13:20.5+01:00")?.getTime(), 1_700_000_000_500);
  assert.equal(parseRfc3339("2023-11-14 22:13:20"), null);
  assert.equal(parseRfc3339("yesterday"), null);
});

Deno.test("S3 metadata round-trips walsync's checksums and Litestream's timestamp", () => {
  const metadata = {
    sha256: "ab".repeat(32),
    databaseChecksum: 0x8000000000000abcn,
    createdAt: new Date(1_700_000_000_120),
  };
  const encoded = encodeMetadata(metadata);
  assert.deepEqual(encoded, {
    "sha256": "ab".repeat(32),
    "walsync-checksum": "8000000000000abc",
    "litestream-timestamp": "2023-11-14T22:13:20.12Z",
  });
  assert.deepEqual(decodeMetadata("k", encoded), metadata);
  assert.equal(
    decodeMetadata("k", { "walsync-checksum": "0000000000000001" }).databaseChecksum,
    1n,
  );
});

Deno.test("S3 metadata of a Litestream object has a timestamp and no checksums", () => {
  const decoded = decodeMetadata("k", { "litestream-timestamp": "2023-11-14T22:13:20.123456Z" });
  assert.equal(decoded.createdAt?.getTime(), 1_700_000_000_123);
  assert.equal(decoded.sha256, undefined);
  assert.equal(decoded.databaseChecksum, undefined);
  assert.deepEqual(decodeMetadata("k", undefined), {});
  assert.equal(decodeMetadata("k", { "litestream-timestamp": "garbage" }).createdAt, undefined);
});

Deno.test("malformed checksum metadata is an error, not a skipped verification", () => {
  assert.throws(
    () => decodeMetadata("p/x.ltx", { sha256: "xyz" }),
    /"p\/x.ltx" has malformed sha256/,
  );
  assert.throws(
    () => decodeMetadata("p/x.ltx", { "walsync-checksum": "12" }),
    /malformed walsync-checksum/,
  );
});

Deno.test("s3:// replica URLs give bucket, prefix and optional endpoint and region", () => {
  assert.deepEqual(parseS3Url("s3://bucket/prefix"), { bucket: "bucket", prefix: "prefix" });
  assert.deepEqual(parseS3Url("s3://bucket"), { bucket: "bucket", prefix: "" });
  assert.deepEqual(parseS3Url("s3://bucket/"), { bucket: "bucket", prefix: "" });
  assert.deepEqual(parseS3Url("s3://my.bucket//a//b/"), { bucket: "my.bucket", prefix: "a/b" });
  assert.deepEqual(
    parseS3Url("s3://bucket/p?endpoint=http://127.0.0.1:9000&region=auto&force-path-style=false"),
    {
      bucket: "bucket",
      prefix: "p",
      endpoint: "http://127.0.0.1:9000",
      region: "auto",
      forcePathStyle: false,
    },
  );
});

Deno.test("bad s3:// replica URLs are usage errors that say what to write", () => {
  assert.throws(() => parseS3Url("s3://"), /no valid bucket name/);
  assert.throws(() => parseS3Url("s3://b/p"), /no valid bucket name/);
  assert.throws(() => parseS3Url("s3://key:secret@bucket/p"), /must not carry credentials/);
  assert.throws(() => parseS3Url("s3://bucket:9000/p"), /AWS_ENDPOINT_URL_S3/);
  assert.throws(() => parseS3Url("s3://bucket/p?colour=blue"), /option "colour" .* is unknown/);
  assert.throws(
    () => parseS3Url("s3://bucket/p?force-path-style=yes"),
    /must be true or false/,
  );
});
