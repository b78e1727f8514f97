import assert from "node:assert/strict";
import {
  copyFileMode,
  directoryModeFor,
  fileModeIn,
  makeDirectories,
  writeFileDurably,
} from "./durable.ts";

const POSIX = Deno.build.os !== "windows";

async function modeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

Deno.test("copies never get execute bits and always stay read-write for their owner", () => {
  assert.equal(copyFileMode(0o600), 0o600);
  assert.equal(copyFileMode(0o640), 0o640);
  assert.equal(copyFileMode(0o755), 0o644);
  assert.equal(copyFileMode(0o400), 0o600);
  assert.equal(directoryModeFor(0o600), 0o700);
  assert.equal(directoryModeFor(0o640), 0o750);
  assert.equal(directoryModeFor(0o604), 0o705);
  assert.equal(directoryModeFor(0o666), 0o777);
});

Deno.test({
  name: "writeFileDurably sets the mode it is given exactly, whatever the umask or a stale temp",
  ignore: !POSIX,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const data = new Uint8Array([1, 2, 3]);
      // 0666: more than a 022 umask lets through at create.
      await writeFileDurably(`${dir}/open`, data, { mode: 0o666 });
      assert.equal(await modeOf(`${dir}/open`), 0o666);
      // A temp left by a crash keeps its old mode through open(create): set again.
      await Deno.writeFile(`${dir}/private.tmp`, data, { mode: 0o644 });
      await Deno.chmod(`${dir}/private.tmp`, 0o644);
      await writeFileDurably(`${dir}/private`, data, { mode: 0o600 });
      assert.equal(await modeOf(`${dir}/private`), 0o600);
      await writeFileDurably(`${dir}/direct`, data, { mode: 0o640, rename: false });
      assert.equal(await modeOf(`${dir}/direct`), 0o640);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "makeDirectories gives the mode to the directories it creates below the base only",
  ignore: !POSIX,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.chmod(dir, 0o755);
      await makeDirectories(`${dir}/root/app.db/ltx/0`, `${dir}/root`, 0o700);
      await Deno.chmod(`${dir}/root/app.db`, 0o750); // an existing directory is left alone
      await makeDirectories(`${dir}/root/app.db/ltx/9`, `${dir}/root`, 0o700);
      assert.equal(await modeOf(`${dir}/root`), 0o777 & ~Deno.umask());
      assert.equal(await modeOf(`${dir}/root/app.db`), 0o750);
      for (const sub of ["ltx", "ltx/0", "ltx/9"]) {
        assert.equal(await modeOf(`${dir}/root/app.db/${sub}`), 0o700, sub);
      }
      assert.equal(await fileModeIn(`${dir}/root/app.db/ltx`), 0o600);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
