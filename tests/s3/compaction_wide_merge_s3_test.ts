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
    // Ignored: fails on this branch. `walsync compact --force` exits 1 after about a minute:
    // "Cannot reach http://127.0.0.1:PORT for S3 GetObject of ".../0000/0000000000000022-..."
    // (TimeoutError) after 5 attempts": TXID 0x22 is the 33rd input. src/compact/execute.ts opens every input (up to MAX_MERGE_INPUTS =
    // 128) before mergeLtx reads any; past DEFAULT_MAX_SOCKETS (32) streamed inputs the next
    // GetObject never gets a socket. Seen in bench/compaction_restore.ts at 10,000 batches on
    // S3 (a level-2 merge of 79 level-1 files). Small objects are read whole, so 128 small
    // level-0 files do not show it.
    ignore: Deno.env.get("RUN_IGNORED") === undefined,
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
        const files = await listAllFiles(replica.client, replica.name);
        assert.ok(
          files.some((f) => f.level === 1 && f.minTxid === 2 && f.maxTxid === FILES + 1),
          await describe(replica),
        );
      } finally {
        await replica.close();
      }
    },
  });
}
stopS3ServersAfterTests();
