import assert from "node:assert/strict";
import { Random } from "../../tests/support/random.ts";
import { DEFAULT_HASH_IN_MEMORY_BYTES, Staging } from "./staging.ts";

const POSIX = Deno.build.os !== "windows";

async function withStaging(
  options: { fileMode?: number },
  fn: (staging: Staging, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-staging-" });
  const staging = await Staging.open(`${dir}/.app.db-walsync`, `${dir}/app.db`, options);
  try {
    await fn(staging, dir);
  } finally {
    staging.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Stages `data` in uneven chunks from ONE reused buffer, as the LTX encoder hands them out. */
async function stageBytes(
  staging: Staging,
  txid: number,
  data: Uint8Array,
  options: { large?: boolean } = {},
) {
  const reused = new Uint8Array(512 * 1024);
  return await staging.stage(
    { level: 0, minTxid: txid, maxTxid: txid },
    { databaseChecksum: 1n, createdAt: new Date(0) },
    async (write) => {
      for (let at = 0, step = 1; at < data.length; step = (step * 7 + 13) % 400_000 + 1) {
        const chunk = data.subarray(at, Math.min(at + step, data.length));
        reused.set(chunk);
        await write(reused.subarray(0, chunk.length));
        reused.fill(0xee, 0, chunk.length); // a writer that kept a reference would see this
        at += chunk.length;
      }
    },
    options,
  );
}

async function webCryptoHex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("Staging records crypto.subtle.digest's SHA-256 of each staged file, below and above the in-memory bound", async () => {
  const random = new Random(9);
  const bound = DEFAULT_HASH_IN_MEMORY_BYTES;
  const sizes = [0, 1, 4_200, 300_000, bound - 1, bound, bound + 1, bound + 3_000_000];
  await withStaging({}, async (staging) => {
    let txid = 0;
    const recorded = new Map<number, string>();
    for (const size of sizes) {
      const data = random.bytes(size);
      for (const large of [false, true]) {
        const staged = await stageBytes(staging, ++txid, data, { large });
        const onDisk = await Deno.readFile(staged.path);
        assert.deepEqual(onDisk, data, `size ${size}, large ${large}: content`);
        assert.equal(staged.sizeBytes, size);
        assert.equal(staged.sha256, await webCryptoHex(onDisk), `size ${size}, large ${large}`);
        recorded.set(txid, staged.sha256);
      }
    }
    for (const file of await staging.list()) {
      assert.equal(file.sha256, recorded.get(file.maxTxid), "the metadata keeps the same hash");
    }
  });
});

Deno.test({
  name: "Staging gives its directories, lock, staged files and metadata the database's mode",
  ignore: !POSIX,
  fn: async () => {
    // 0660 under the test's umask (022 here) would lose group write without an explicit chmod.
    for (const fileMode of [0o600, 0o660]) {
      await withStaging({ fileMode }, async (staging) => {
        const staged = await stageBytes(staging, 1, new Random(1).bytes(5000));
        const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;
        const dirMode = fileMode === 0o600 ? 0o700 : 0o770;
        assert.equal(await mode(staging.dir), dirMode);
        assert.equal(await mode(`${staging.dir}/pending`), dirMode);
        assert.equal(await mode(`${staging.dir}/lock`), fileMode);
        assert.equal(await mode(staged.path), fileMode);
        assert.equal(await mode(`${staged.path}.meta.json`), fileMode);
      });
    }
  },
});

Deno.test({
  name: "Staging narrows a staging directory made before the database became private",
  ignore: !POSIX,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-staging-" });
    try {
      const stagingDir = `${dir}/.app.db-walsync`;
      (await Staging.open(stagingDir, `${dir}/app.db`, { fileMode: 0o644 })).close();
      await Deno.writeTextFile(`${stagingDir}/state`, "old");
      await Deno.chmod(`${stagingDir}/state`, 0o644);
      (await Staging.open(stagingDir, `${dir}/app.db`, { fileMode: 0o600 })).close();
      for (const [path, mode] of [[stagingDir, 0o700], [`${stagingDir}/state`, 0o600]] as const) {
        assert.equal((await Deno.stat(path)).mode! & 0o777, mode, path);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
