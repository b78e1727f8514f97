import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Logger } from "../log.ts";
import { Discovery } from "./discovery.ts";

Deno.test("Discovery reports SQLite files once, names the others once, and forgets on request", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = new DatabaseSync(`${dir}/real.db`);
    db.exec("CREATE TABLE t (x)");
    db.close();
    await Deno.writeTextFile(`${dir}/notes.db`, "just some text, not a database");
    await Deno.writeFile(`${dir}/empty.db`, new Uint8Array());
    const paths = ["real.db", "notes.db", "empty.db", "missing.db"].map((n) => ({
      path: `${dir}/${n}`,
    }));
    const lines: string[] = [];
    const logger = new Logger({ format: "json", write: (line) => lines.push(line) });
    const discovery = new Discovery(() => Promise.resolve(paths), logger);

    assert.deepEqual(await discovery.findNew(), [{ path: `${dir}/real.db` }]);
    const logged = lines.map((l) => JSON.parse(l)).map((l) => [l.level, l.path, l.reason]);
    assert.deepEqual(logged, [
      ["warn", `${dir}/notes.db`, "the file is not a SQLite database"],
      ["info", `${dir}/empty.db`, "the file is empty (a database being created?)"],
      ["info", `${dir}/missing.db`, "the file does not exist yet"],
    ]);
    // Not taken yet: reported again; the others are not logged a second time.
    assert.deepEqual(await discovery.findNew(), [{ path: `${dir}/real.db` }]);
    assert.equal(lines.length, 3);
    discovery.markKnown(`${dir}/real.db`);
    assert.deepEqual(await discovery.findNew(), []);
    discovery.forget(`${dir}/real.db`);
    assert.deepEqual(await discovery.findNew(), [{ path: `${dir}/real.db` }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
