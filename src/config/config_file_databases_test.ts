/** `resolveDatabases` on real directory trees: globs, names and collisions. */
import assert from "node:assert/strict";
import { ConfigError, parseConfig, resolveDatabases } from "./config_file.ts";

async function withTree(
  files: string[],
  run: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-databases-" });
  try {
    for (const file of files) {
      const path = `${dir}/${file}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(path, "");
    }
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Resolves `text` as if it were `<dir>/walsync.toml`, as [path, name] pairs. */
async function resolve(dir: string, text: string): Promise<[string, string][]> {
  const config = parseConfig(text, `${dir}/walsync.toml`, () => undefined);
  return (await resolveDatabases(config)).map((d) => [d.path, d.name]);
}

async function resolveProblems(dir: string, text: string): Promise<string[]> {
  const config = parseConfig(text, `${dir}/walsync.toml`, () => undefined);
  const error = await resolveDatabases(config).then(
    () => assert.fail("expected a ConfigError"),
    (error: unknown) => error,
  );
  assert.ok(error instanceof ConfigError);
  return error.message.split("\n");
}

Deno.test("resolveDatabases names each tenant by its path below the glob root", async () => {
  await withTree(["tenants/a/app.db", "tenants/b/app.db", "tenants/b/app.db-wal"], async (dir) => {
    assert.deepEqual(await resolve(dir, '[[databases]]\npath = "tenants/*/app.db"\n'), [
      [`${dir}/tenants/a/app.db`, "a/app.db"],
      [`${dir}/tenants/b/app.db`, "b/app.db"],
    ]);
    assert.deepEqual(
      await resolve(dir, '[[databases]]\npath = "tenants/*/app.db"\nname = "prod"\n'),
      [
        [`${dir}/tenants/a/app.db`, "prod/a/app.db"],
        [`${dir}/tenants/b/app.db`, "prod/b/app.db"],
      ],
    );
  });
});

Deno.test("resolveDatabases expands ** and skips staging folders and side files", async () => {
  const files = [
    "srv/x.db",
    "srv/deep/er/y.db",
    "srv/deep/er/y.db-shm",
    "srv/deep/er/.y.db-walsync/0001.ltx.db",
    "srv/notes.txt",
  ];
  await withTree(files, async (dir) => {
    assert.deepEqual(await resolve(dir, '[[databases]]\npath = "srv/**/*.db"\n'), [
      [`${dir}/srv/deep/er/y.db`, "deep/er/y.db"],
      [`${dir}/srv/x.db`, "x.db"],
    ]);
  });
});

Deno.test("resolveDatabases keeps literal paths that do not exist yet", async () => {
  await withTree([], async (dir) => {
    const text =
      '[[databases]]\npath = "new/app.db"\n[[databases]]\npath = "/nowhere/x.db"\nname = "other/x.db"\n[[databases]]\npath = "missing/*/app.db"\n';
    assert.deepEqual(await resolve(dir, text), [
      [`${dir}/new/app.db`, "app.db"],
      ["/nowhere/x.db", "other/x.db"],
    ]);
  });
});

Deno.test("resolveDatabases rejects two files with one replica name, naming both entries", async () => {
  await withTree(["one/a/app.db", "two/a/app.db"], async (dir) => {
    const text = `[[databases]]
path = "one/*/app.db"

[[databases]]
path = "two/*/app.db"
`;
    assert.deepEqual(await resolveProblems(dir, text), [
      `${dir}/walsync.toml:4: "${dir}/one/a/app.db" and "${dir}/two/a/app.db" both get replica name "a/app.db" from databases[0] (line 1) and databases[1] (line 4); set name on one of them to tell them apart`,
    ]);
    assert.deepEqual(await resolve(dir, `${text}name = "two"\n`), [
      [`${dir}/one/a/app.db`, "a/app.db"],
      [`${dir}/two/a/app.db`, "two/a/app.db"],
    ]);
  });
});

Deno.test("resolveDatabases rejects one file matched by two entries, naming both lines", async () => {
  await withTree(["dbs/app.db", "dbs/other.db"], async (dir) => {
    const text = `# literal first
[[databases]]
path = "dbs/app.db"
name = "main.db"

[[databases]]
path = "dbs/*.db"
`;
    assert.deepEqual(await resolveProblems(dir, text), [
      `${dir}/walsync.toml:6: "${dir}/dbs/app.db" is matched by databases[0] (line 2) and databases[1] (line 6); remove it from one of them`,
    ]);
  });
});

Deno.test("resolveDatabases rejects a literal path that is a directory", async () => {
  await withTree(["dbs/app.db"], async (dir) => {
    assert.deepEqual(await resolveProblems(dir, '\n[[databases]]\npath = "dbs"\n'), [
      `${dir}/walsync.toml:2: databases[0].path "${dir}/dbs" is a directory; give a database file or a glob such as "${dir}/dbs/*.db"`,
    ]);
  });
});
