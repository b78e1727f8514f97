import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { parseReplicaUrl, type ReplicaUrl } from "./replica_url.ts";

const parse = (value: string, bareBucket = false): ReplicaUrl =>
  parseReplicaUrl(value, { baseDir: "/srv/app", bareBucket });

const FORMS = "Use s3://bucket/prefix, file:///dir, or a path starting with / or ./";

Deno.test("parseReplicaUrl takes s3://, file:/// and absolute or ./ and ../ paths", () => {
  const s3 = parse("s3://bkt/p/q?region=auto");
  assert.equal(s3.kind, "s3");
  assert.equal(s3.url, "s3://bkt/p/q?region=auto");
  assert.deepEqual(s3.kind === "s3" && s3.s3, { bucket: "bkt", prefix: "p/q", region: "auto" });
  assert.deepEqual(parse("file:///"), { kind: "file", url: "file:///", root: "/" });
  assert.deepEqual(parse("file:///var//backups/./x/"), {
    kind: "file",
    url: "file:///var/backups/x",
    root: "/var/backups/x",
  });
  assert.deepEqual(parse("file:///tmp/a%20b"), {
    kind: "file",
    url: "file:///tmp/a b",
    root: "/tmp/a b",
  });
  assert.deepEqual(parse("/backups"), { kind: "file", url: "file:///backups", root: "/backups" });
  assert.equal(parse("./replica").url, "file:///srv/app/replica");
  assert.equal(parse("../replica").url, "file:///srv/replica");
  assert.equal(parse(".").url, "file:///srv/app");
  // A canonical URL parses back to the same directory, whatever its characters.
  const odd = parse("./50% ?#x");
  assert.equal(odd.kind === "file" && odd.root, "/srv/app/50% ?#x");
  assert.deepEqual(parse(odd.url), odd);
});

Deno.test("parseReplicaUrl takes a bare bucket name as s3://name only where asked (walsync.toml)", () => {
  assert.equal(parse("b.example-1", true).url, "s3://b.example-1");
  assert.throws(
    () => parse("b.example-1"),
    new UsageError(
      `Replica URL "b.example-1" is not valid; did you mean "s3://b.example-1" or "./b.example-1"? ${FORMS}`,
    ),
  );
  // Not a bucket name: a directory is the only guess.
  assert.throws(() => parse("My Dir/x", true), /did you mean "\.\/My Dir\/x"\? Use/);
});

Deno.test("parseReplicaUrl refuses mistyped URLs with what was probably meant", () => {
  for (
    const [value, meant] of [
      ["s3:/bucket", "s3://bucket"],
      ["s3//bucket/p", "s3://bucket/p"],
      ["S3:bucket", "s3://bucket"],
      ["s3:///bucket", "s3://bucket"],
      ["file:/var/x", "file:///var/x"],
      ["file://var/x", "file:///var/x"],
      ["file//var/x", "file:///var/x"],
    ]
  ) {
    assert.throws(
      () => parse(value, true),
      new UsageError(`Replica URL "${value}" is not valid; did you mean "${meant}"? ${FORMS}`),
    );
  }
  assert.throws(
    () => parse("gs://b"),
    new UsageError(
      'Replica URL "gs://b" is not valid: scheme "gs" is not supported; use s3://bucket/prefix, file:///dir, or a path starting with / or ./',
    ),
  );
  assert.throws(() => parse("~/backups"), /"~" is a shell feature/);
  assert.throws(() => parse(" "), /Replica URL is empty/);
  assert.throws(() => parse("file:///x?y=1"), /takes no \?query/);
  assert.throws(() => parse("s3://"), /Replica URL "s3:\/\/" has no bucket name; use/);
  assert.throws(() => parse("s3://?region=x"), /has no bucket name/);
  assert.throws(() => parse("s3://bkt:9000/p"), /has a port/);
});
