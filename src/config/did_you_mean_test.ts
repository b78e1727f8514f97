import assert from "node:assert/strict";
import { editDistance, suggest } from "./did_you_mean.ts";

Deno.test("editDistance counts an adjacent swap as one edit", () => {
  assert.equal(editDistance("sycn", "sync"), 1);
  assert.equal(editDistance("intervall", "interval"), 1);
  assert.equal(editDistance("snapshot_intrval", "snapshot_interval"), 1);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("abc", ""), 3);
  assert.equal(editDistance("same", "same"), 0);
});

Deno.test("suggest picks the closest candidate within the typo limit", () => {
  const keys = ["interval", "snapshot_interval", "max_interval", "on_idle"];
  assert.equal(suggest("intervall", keys), "interval");
  assert.equal(suggest("snapshot_intrval", keys), "snapshot_interval");
  assert.equal(suggest("max_intreval", keys), "max_interval");
  assert.equal(suggest("Interval", keys), "interval");
  assert.equal(suggest("sycn", ["s3", "sync", "retention", "log", "databases"]), "sync");
});

Deno.test("suggest stays silent when nothing is close", () => {
  assert.equal(suggest("compression", ["interval", "on_idle"]), undefined);
  assert.equal(suggest("xy", ["s3", "log"]), undefined);
  assert.equal(suggest("interval", ["interval"]), undefined);
  assert.equal(suggest("anything", []), undefined);
});

Deno.test("suggest allows a third of the length for long words", () => {
  // Three edits: within the limit for a 13-letter word, beyond it for a 6-letter one.
  assert.equal(editDistance("chckpnt_pages", "checkpoint_pages"), 3);
  assert.equal(suggest("chckpnt_pages", ["checkpoint_pages"]), "checkpoint_pages");
  assert.equal(suggest("chpt_pages", ["checkpoint_pages"]), undefined);
  assert.equal(suggest("lvel", ["level"]), "level");
  assert.equal(suggest("abcxyz", ["abcdef"]), undefined);
});
