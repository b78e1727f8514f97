import assert from "node:assert/strict";
import {
  takeSnapshotRequests,
  waitForSnapshotAnswer,
  writeSnapshotAnswer,
  writeSnapshotRequest,
} from "./snapshot_request.ts";

Deno.test({
  name: "snapshot requests and answers take the mode of the staging directory's files",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.chmod(dir, 0o700); // a 0600 database's staging directory
      await writeSnapshotRequest(dir, { id: "0a1b", replica: "file:///x" });
      assert.equal((await Deno.stat(`${dir}/snapshot-request-0a1b.json`)).mode! & 0o777, 0o600);
      assert.deepEqual(await takeSnapshotRequests(dir), [{ id: "0a1b", replica: "file:///x" }]);
      await writeSnapshotAnswer(dir, "0a1b", { ok: false, error: "no" });
      assert.equal((await Deno.stat(`${dir}/snapshot-answer-0a1b.json`)).mode! & 0o777, 0o600);
      const answer = await waitForSnapshotAnswer(dir, "0a1b", {
        timeoutMs: 10_000,
        isAlive: () => true,
      });
      assert.deepEqual(answer, { ok: false, error: "no" });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
