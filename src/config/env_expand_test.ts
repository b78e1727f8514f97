import assert from "node:assert/strict";
import { expandEnv } from "./env_expand.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("expandEnv replaces $VAR and ${VAR}", () => {
  const lookup = env({ BUCKET: "prod", REGION: "eu-west-1", EMPTY: "" });
  assert.equal(expandEnv("s3://$BUCKET/db", lookup), "s3://prod/db");
  assert.equal(expandEnv("s3://${BUCKET}x/db", lookup), "s3://prodx/db");
  assert.equal(expandEnv("$BUCKET-$REGION", lookup), "prod-eu-west-1");
  assert.equal(expandEnv("a${EMPTY}b", lookup), "ab");
  assert.equal(expandEnv("no variables", lookup), "no variables");
});

Deno.test("expandEnv turns $$ into a literal $ without expanding what follows", () => {
  const lookup = env({ HOME: "/root" });
  assert.equal(expandEnv("cost$$5", lookup), "cost$5");
  assert.equal(expandEnv("$$HOME", lookup), "$HOME");
  assert.equal(expandEnv("$$$HOME", lookup), "$/root");
});

Deno.test("expandEnv names an unset variable", () => {
  assert.throws(
    () => expandEnv("s3://${BUCKET}/x", env({})),
    { name: "UsageError", message: 'environment variable "BUCKET" is not set' },
  );
  assert.throws(
    () => expandEnv("$SET/$UNSET_ONE", env({ SET: "x" })),
    { message: 'environment variable "UNSET_ONE" is not set' },
  );
});

Deno.test("expandEnv rejects a stray or malformed $", () => {
  assert.throws(() => expandEnv("price: 5$", env({})), /"price: 5\$" has a "\$" that starts no/);
  assert.throws(() => expandEnv("$1", env({})), /starts no variable/);
  assert.throws(() => expandEnv("${BUCKET", env({ BUCKET: "b" })), /malformed/);
  assert.throws(() => expandEnv("${}", env({})), /malformed/);
  assert.throws(() => expandEnv("${A-B}", env({})), /malformed/);
});
