/**
 * `walsync compact` on S3 merges more large inputs than the S3 client has sockets (32): each
 * input is opened as a streamed GetObject before the merge reads any, so inputs past the
 * 32nd wait for a socket that the first 32 hold until they are read.
 */
import assert from "node:assert/strict";
import { sha256Hex } from "../../src/checksum/sha256.ts";
import { LtxEncoder } from "../../src/ltx/ltx_encoder.ts";
import { newLtxHeader } from "../../src/ltx/ltx_header.ts";
import { listAllFiles } from "../../src/restore/apply.ts";
import { compactCli } from "../support/compaction_faults.ts";
import { describe, s3Replica } from "../support/compaction_peers.ts";
import { s3TestTargets, stopS3ServersAfterTests } from "../support/s3_server.ts";

const PAGES = 300; // ~1.2 MB of incompressible pages per file
const FILES = 40;

for (const target of s3TestTargets().filter((t) => t.kind === "seaweedfs")) {
  Deno.test({
    name: `${target.label}: compact merges ${FILES} level-0 files of ~1.2 MB each`,
    // Failed before 07fdbcc (merges read small inputs whole and stream at most 8 large ones):
    // `walsync compact --force` exited 1 after about a minute, "Cannot reach ... for S3
    // GetObject of ".../0000/0000000000000022-..." (TimeoutError) after 5 attempts": every
    // input was opened before the merge read any, and TXID 0x22, the 33rd input, never got
    // one of the S3 client's 32 sockets.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const replica = s3Replica(await target.start());
      try {
        const start = Date.now() - FILES * 1000;
        for (let txid = 1; txid <= FILES + 1; txid++) {
          const encoder = new LtxEncoder(newLtxHeader({
            pageSize: 4096,
            commit: PAGES,
            minTxid: txid,
            maxTxid: txid,
            timestampMs: start + txid * 1000,
          }));
          const parts = [encoder.encodeHeader()];
          for (let pgno = 1; pgno <= PAGES; pgno++) {
            const page = crypto.getRandomValues(new Uint8Array(4096));
            parts.push(encoder.encodePage(pgno, page).slice());
          }
          parts.push(encoder.finish().bytes);
          const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          let at = 0;
          for (const p of parts) {
            body.set(p, at);
            at += p.length;
          }
          await replica.client.writeFile(
            replica.name,
            { level: 0, minTxid: txid, maxTxid: txid },
            body,
            {
              sha256: await sha256Hex(body),
              databaseChecksum: 0x8000000000000000n,
              createdAt: new Date(start + txid * 1000),
            },
          );
        }
        const result = await compactCli(replica, ["--force", "--compaction-levels", "1s"]);
        assert.equal(result.code, 0, result.output);
        // Level 1 covers TXIDs 2..FILES + 1 as one chain (in as many merges as it takes).
        const levelOne = (await listAllFiles(replica.client, replica.name)).filter((f) =>
          f.level === 1
        );
        let next = 2;
        for (const f of levelOne) {
          assert.equal(f.minTxid, next, await describe(replica));
          next = f.maxTxid + 1;
        }
        assert.equal(next, FILES + 2, await describe(replica));
      } finally {
        await replica.close();
      }
    },
  });
}
stopS3ServersAfterTests();
