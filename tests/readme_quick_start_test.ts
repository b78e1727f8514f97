/** What the README's quick start leaves in a checkout stays out of `git status`. */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;

function gitWorks(): boolean {
  try {
    const out = new Deno.Command("git", { args: ["rev-parse"], cwd: ROOT, stderr: "null" })
      .outputSync();
    return out.success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "the files the README's quick start creates are git-ignored",
  ignore: !gitWorks(),
  fn: async () => {
    const readme = await Deno.readTextFile(`${ROOT}README.md`);
    // The commands this test knows the output of: keep them in step with the README.
    assert.match(readme, /walsync watch --create sample\.db -b "file:\/\/\$PWD\/walsync-replica"/);
    assert.match(readme, /walsync restore sample\.db -o restored\.db/);
    const created = [
      "sample.db",
      "sample.db-wal",
      "sample.db-shm",
      ".sample.db-walsync/lock",
      "walsync-replica/sample.db/ltx/0/0000000000000001-0000000000000001.ltx",
      "restored.db",
    ];
    for (const path of created) {
      const { code } = await new Deno.Command("git", {
        args: ["check-ignore", "--no-index", "-q", path],
        cwd: ROOT,
      }).output();
      assert.equal(code, 0, `${path} is not git-ignored`);
    }
  },
});
