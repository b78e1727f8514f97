/**
 * A stand-in compactor for follower tests (until walsync compacts by itself): merges the
 * level-0 files of a file replica after TXID `after` into one level-1 file, the newest version
 * of each page kept, with walsync's metadata, then deletes those level-0 files.
 */
import { sha256Hex } from "../../src/checksum/sha256.ts";
import { decodeLtx } from "../../src/ltx/ltx_decoder.ts";
import { LtxEncoder } from "../../src/ltx/ltx_encoder.ts";
import { newLtxHeader } from "../../src/ltx/ltx_header.ts";
import { FileReplicaClient } from "../../src/replica/file/file_replica_client.ts";
import { readAll } from "../../src/replica/replica_client.ts";

export async function compactLevel0(root: string, name: string, after: number): Promise<number> {
  const client = new FileReplicaClient(root);
  const files = (await client.listFiles(name, 0)).filter((f) => f.minTxid > after);
  if (files.length < 2) throw new Error(`only ${files.length} level-0 files after ${after}`);
  const pages = new Map<number, Uint8Array>();
  let commit = 0;
  let pageSize = 0;
  for (const file of files) {
    const decoded = await decodeLtx(await readAll(await client.openFile(name, file)));
    for (const page of decoded.pages) pages.set(page.pgno, page.data);
    commit = decoded.header.commit;
    pageSize = decoded.header.pageSize;
  }
  const last = files.at(-1)!;
  const encoder = new LtxEncoder(newLtxHeader({
    pageSize,
    commit,
    minTxid: files[0].minTxid,
    maxTxid: last.maxTxid,
  }));
  const parts = [encoder.encodeHeader()];
  for (const pgno of [...pages.keys()].sort((a, b) => a - b)) {
    if (pgno <= commit) parts.push(encoder.encodePage(pgno, pages.get(pgno)!).slice());
  }
  parts.push(encoder.finish().bytes);
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  const key = { level: 1, minTxid: files[0].minTxid, maxTxid: last.maxTxid };
  await client.writeFile(name, key, bytes, {
    sha256: await sha256Hex(bytes),
    databaseChecksum: last.databaseChecksum!,
    createdAt: last.createdAt,
  });
  await client.deleteFiles(name, files);
  return files.length;
}
