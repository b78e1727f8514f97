import assert from "node:assert/strict";
import { LeaseHeldError } from "../lease_holder.ts";
import { FILE_LEASE_NAME, FileLease } from "./file_lease.ts";
import { rejection } from "../../../tests/support/rejection.ts";

Deno.test("a file replica's lock admits one writer and names it to the next", async () => {
  const root = `${await Deno.makeTempDir()}/replica`; // created on first use
  try {
    const first = await FileLease.acquire(root, { location: `file://${root}` });
    const error = await rejection(() => FileLease.acquire(root, { location: `file://${root}` }));
    assert.ok(error instanceof LeaseHeldError, String(error));
    assert.match(
      error.message,
      new RegExp(
        `^Replica "file://${root}" is already written by walsync on host "[^"]+" \\(pid ${Deno.pid}, since \\d{4}-.*\\); stop that process first$`,
      ),
    );
    await first.release();
    const second = await FileLease.acquire(root, { location: `file://${root}` });
    await second.release();
    // The file stays (deleting a lock file races with its next holder), empty when free.
    assert.equal(await Deno.readTextFile(`${root}/${FILE_LEASE_NAME}`), "");
  } finally {
    await Deno.remove(root.slice(0, root.lastIndexOf("/")), { recursive: true });
  }
});
