import assert from "node:assert/strict";
import {
  classifyReplicaKey,
  countReplicated,
  isReplicated,
  listFileReplica,
  replicaCensus,
} from "./replica_census.ts";

const LTX = "0000000000000001-0000000000000007.ltx";

Deno.test("classifyReplicaKey reads the LTX layouts of walsync and Litestream 0.5", () => {
  // File replica (level as a decimal under ltx/), S3 (level as 4 hex), walsync per database.
  assert.deepStrictEqual(classifyReplicaKey(`a.db/ltx/0/${LTX}`), {
    name: "a.db",
    kind: "ltx",
    minTxid: 1,
    maxTxid: 7,
  });
  assert.deepStrictEqual(classifyReplicaKey(`a.db/ltx/9/${LTX}`)?.kind, "ltx");
  assert.deepStrictEqual(classifyReplicaKey(`a.db/0000/${LTX}`), {
    name: "a.db",
    kind: "ltx",
    minTxid: 1,
    maxTxid: 7,
  });
  assert.deepStrictEqual(classifyReplicaKey(`a.db/a.db/ltx/0/${LTX}`)?.name, "a.db");
  assert.deepStrictEqual(classifyReplicaKey(`a.db/a.db/0009/${LTX}`)?.name, "a.db");
});

Deno.test("classifyReplicaKey reads Litestream 0.3's generations layout", () => {
  const generation = "a.db/generations/958c7a04a4c1865b";
  assert.deepStrictEqual(classifyReplicaKey(`${generation}/snapshots/00000000.snapshot.lz4`), {
    name: "a.db",
    kind: "v3-snapshot",
  });
  assert.deepStrictEqual(classifyReplicaKey(`${generation}/wal/00000000_00004080.wal.lz4`), {
    name: "a.db",
    kind: "v3-wal",
  });
});

Deno.test("classifyReplicaKey ignores sidecars, leases, temp files and stray names", () => {
  for (
    const key of [
      `a.db/ltx/0/${LTX}.meta.json`,
      `a.db/ltx/0/${LTX}.tmp`,
      "a.db/.walsync-lease.json",
      ".walsync-lease.json",
      LTX,
      `a.db/${LTX}`, // no level directory
      `a.db/ltx/ten/${LTX}`,
      "a.db/generations/958c7a04a4c1865b/snapshots/00000000.snapshot.lz4.tmp",
      "a.db/generations/958c7a04a4c1865b/snapshots/00000000.snapshot",
      "a.db/generations/958c7a04a4c1865b/other/00000000.snapshot.lz4",
    ]
  ) {
    assert.deepStrictEqual(classifyReplicaKey(key), null, key);
  }
});

Deno.test("replicaCensus counts a database once it has an LTX snapshot or a 0.3 snapshot", () => {
  const census = replicaCensus([
    `a.db/ltx/0/${LTX}`,
    "a.db/ltx/0/0000000000000008-000000000000000a.ltx",
    `a.db/ltx/0/${LTX}.meta.json`,
    "b.db/generations/1111111111111111/snapshots/00000000.snapshot.lz4",
    "b.db/generations/1111111111111111/wal/00000000_00000000.wal.lz4",
    // WAL segments without a snapshot cannot be restored.
    "c.db/generations/2222222222222222/wal/00000000_00000000.wal.lz4",
    "d.db/.walsync-lease.json",
  ]);
  assert.deepStrictEqual(census.get("a.db"), {
    ltxFiles: 2,
    ltxFromStart: 1,
    maxTxid: 10,
    v3Snapshots: 0,
    v3WalSegments: 0,
  });
  assert.deepStrictEqual(isReplicated(census.get("a.db")), true);
  assert.deepStrictEqual(isReplicated(census.get("b.db")), true);
  assert.deepStrictEqual(isReplicated(census.get("c.db")), false);
  assert.deepStrictEqual(isReplicated(census.get("d.db")), false);
  assert.deepStrictEqual(countReplicated(census, ["a.db", "b.db", "c.db", "d.db", "e.db"]), 2);
});

Deno.test("replicaCensus does not count LTX files that start after TXID 1 (no snapshot)", () => {
  // walsync out of fds at 5,000 databases shipped level-0 batches of databases whose snapshot
  // never made it; `walsync restore` refuses them ("no snapshot at or before TXID 3").
  const census = replicaCensus([
    "e.db/ltx/0/0000000000000003-0000000000000003.ltx",
    "f.db/0000/0000000000000002-0000000000000004.ltx",
    "g.db/ltx/1/0000000000000001-0000000000000004.ltx", // a compaction from the start restores
  ]);
  assert.equal(isReplicated(census.get("e.db")), false);
  assert.equal(isReplicated(census.get("f.db")), false);
  assert.equal(isReplicated(census.get("g.db")), true);
  assert.equal(census.get("e.db")?.ltxFiles, 1);
});

Deno.test("listFileReplica lists every file below the root, relative to it", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${root}/a.db/ltx/0`, { recursive: true });
    Deno.writeFileSync(`${root}/a.db/ltx/0/${LTX}`, new Uint8Array(1));
    Deno.mkdirSync(`${root}/b.db`);
    assert.deepStrictEqual(listFileReplica(root), [`a.db/ltx/0/${LTX}`]);
    assert.deepStrictEqual(listFileReplica(`${root}/missing`), []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
