import assert from "node:assert/strict";
import {
  changeCounterOf,
  fieldsFromHex,
  fieldsToHex,
  patchPage1,
  primaryFieldsOf,
  unpatchPage1,
} from "./copy_header.ts";

Deno.test("the copy's page 1 is legacy format with a new counter, and unpatches to the primary's", () => {
  const primary = crypto.getRandomValues(new Uint8Array(4096));
  primary[18] = 2;
  primary[19] = 2;
  const fields = primaryFieldsOf(primary);
  const copy = primary.slice();
  patchPage1(copy, { changeCounter: 77, pageCount: 12 });
  assert.equal(copy[18], 1);
  assert.equal(copy[19], 1);
  assert.equal(changeCounterOf(copy), 77);
  assert.equal(new DataView(copy.buffer).getUint32(28), 12);
  assert.equal(new DataView(copy.buffer).getUint32(92), 77);
  assert.deepEqual(unpatchPage1(copy, fields), primary);
  assert.deepEqual(fieldsFromHex(fieldsToHex(fields)), fields);
  assert.equal(fieldsFromHex("zz"), null);
});
