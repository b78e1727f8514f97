import assert from "node:assert/strict";
import { ByteBudget } from "./next_file.ts";

Deno.test("ByteBudget lets bytes in up to its limit and the rest wait for a release", async () => {
  const budget = new ByteBudget(100);
  await budget.acquire(60);
  await budget.acquire(40);
  let third = false;
  const waiting = budget.acquire(10).then(() => third = true);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(third, false);
  budget.release(60);
  await waiting;
  assert.equal(third, true);
  // One request over the limit still goes through alone.
  budget.release(40);
  budget.release(10);
  await budget.acquire(500);
});
