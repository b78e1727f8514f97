import assert from "node:assert/strict";
import { PageChecksums } from "./page_checksums.ts";
import { loadState, type ReplicaState, saveState, StateError } from "./replica_state.ts";

function page(byte: number): Uint8Array {
  return new Uint8Array(4096).fill(byte);
}

function stateWith(pages: PageChecksums, txid: number): ReplicaState {
  return { txid, pageSize: 4096, commit: pages.pageCount, wal: null, pages };
}

Deno.test("the state file is updated in place, entry by entry, and reads back equal", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/state`;
    const pages = new PageChecksums(4096);
    for (let pgno = 1; pgno <= 100; pgno++) pages.set(pgno, page(pgno));
    await saveState(path, stateWith(pages, 1));
    const { ino } = await Deno.stat(path);
    pages.set(7, page(200));
    pages.set(8, page(201));
    pages.set(101, page(202));
    await saveState(path, stateWith(pages, 2));
    assert.equal((await Deno.stat(path)).ino, ino, "written in place, not renamed over");
    let loaded = await loadState(path);
    assert.equal(loaded!.txid, 2);
    assert.equal(loaded!.pages.value, pages.value);
    assert.deepEqual(loaded!.pages.toBytes(), pages.toBytes());

    // Shrinking then growing again: the entries past the cut read as zero, as in memory.
    pages.truncate(50);
    pages.set(60, page(9));
    await saveState(path, stateWith(pages, 3));
    loaded = await loadState(path);
    assert.deepEqual(loaded!.pages.toBytes(), pages.toBytes());
    assert.equal(loaded!.commit, 60);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a state file whose table changed without its header (a torn write) is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/state`;
    const pages = new PageChecksums(4096);
    for (let pgno = 1; pgno <= 10; pgno++) pages.set(pgno, page(pgno));
    await saveState(path, stateWith(pages, 1));
    const file = await Deno.open(path, { write: true });
    await file.seek(4096 + 3 * 8, Deno.SeekMode.Start);
    await file.write(new Uint8Array(8).fill(0xab));
    file.close();
    await assert.rejects(loadState(path), StateError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
