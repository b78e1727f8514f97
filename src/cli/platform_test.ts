import assert from "node:assert/strict";
import { main } from "./main.ts";
import { platformRefusal } from "./platform.ts";

Deno.test("platformRefusal refuses watch and snapshot on Windows, naming locks, SIGUSR1 and /proc", () => {
  for (const command of ["watch", "snapshot"]) {
    const reason = platformRefusal(command, "windows");
    assert.ok(reason, command);
    assert.match(reason, new RegExp(`"walsync ${command}" does not run on Windows`));
    assert.match(reason, /POSIX advisory locks/);
    assert.match(reason, /SIGUSR1/);
    assert.match(reason, /\/proc/);
    assert.match(reason, /restore, verify, list and explain work/);
  }
});

Deno.test("platformRefusal lets every command run on Linux and macOS, and the others on Windows", () => {
  const commands = ["watch", "snapshot", "restore", "verify", "list", "explain", "version", "help"];
  for (const os of ["linux", "darwin"] as const) {
    for (const command of commands) assert.equal(platformRefusal(command, os), null, command);
  }
  for (const command of ["restore", "verify", "list", "explain", "version", "help"]) {
    assert.equal(platformRefusal(command, "windows"), null, command);
  }
});

Deno.test("walsync watch on Windows exits 2 before touching the database or the replica", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const code = await main(
      ["watch", "--create", `${dir}/app.db`, "-b", `file://${dir}/replica`, "--once"],
      { os: "windows" },
    );
    assert.equal(code, 2);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names, [], "nothing was created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("walsync watch --help on Windows still prints the help", async () => {
  assert.equal(await main(["watch", "--help"], { os: "windows" }), 0);
});
