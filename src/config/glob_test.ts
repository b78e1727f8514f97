import assert from "node:assert/strict";
import { defaultName, expandGlob, globRoot, globToRegExp, isGlob, resolvePath } from "./glob.ts";

Deno.test("isGlob spots *, ? and [", () => {
  assert.deepEqual(
    ["/a/*.db", "/a/?.db", "/a/[ab].db", "/a/**/x", "/a/b.db", "rel/x.db"].map(isGlob),
    [true, true, true, true, false, false],
  );
});

Deno.test("globRoot keeps the leading segments without glob characters", () => {
  assert.equal(globRoot("/srv/tenants/*/app.db"), "/srv/tenants");
  assert.equal(globRoot("/srv/**/app.db"), "/srv");
  assert.equal(globRoot("/srv/t[ab]/app.db"), "/srv");
  assert.equal(globRoot("/*.db"), "/");
  assert.equal(globRoot("/data/app.db"), "/data", "a literal path's directory");
  assert.equal(globRoot("/app.db"), "/");
});

Deno.test("globToRegExp keeps * and ? inside one segment", () => {
  const re = globToRegExp("/srv/*/app?.db");
  assert.equal(re.test("/srv/a/app1.db"), true);
  assert.equal(re.test("/srv/.hidden/app1.db"), true);
  assert.equal(re.test("/srv/a/b/app1.db"), false);
  assert.equal(re.test("/srv/a/app.db"), false);
  assert.equal(re.test("/srv/a/app12.db"), false);
  assert.equal(globToRegExp("/d/*.db").test("/d/x/y.db"), false);
  assert.equal(globToRegExp("/d/a.db").test("/d/aXdb"), false, "dots are literal");
});

Deno.test("globToRegExp lets ** match zero or more segments", () => {
  const re = globToRegExp("/srv/**/app.db");
  assert.equal(re.test("/srv/app.db"), true);
  assert.equal(re.test("/srv/a/app.db"), true);
  assert.equal(re.test("/srv/a/b/c/app.db"), true);
  assert.equal(re.test("/srv/a/b/c/other.db"), false);
  assert.equal(re.test("/other/app.db"), false);
  const trailing = globToRegExp("/srv/**");
  assert.equal(trailing.test("/srv/a/b.db"), true);
  assert.equal(trailing.test("/srvx/b.db"), false);
  const leading = globToRegExp("**/x.db");
  assert.equal(leading.test("x.db"), true);
  assert.equal(leading.test("a/b/x.db"), true);
  assert.equal(leading.test("a/bx.db"), false);
});

Deno.test("globToRegExp reads bracket classes, ranges and negation", () => {
  const re = globToRegExp("/d/[ab]-[0-9][!x].db");
  assert.equal(re.test("/d/a-5y.db"), true);
  assert.equal(re.test("/d/b-0z.db"), true);
  assert.equal(re.test("/d/c-5y.db"), false);
  assert.equal(re.test("/d/a-xy.db"), false);
  assert.equal(re.test("/d/a-5x.db"), false);
  assert.equal(globToRegExp("/d/[!a]").test("/d//"), false, "a negated class never matches /");
  assert.equal(globToRegExp("/d/[].db").test("/d/[].db"), true, "[] never closes: literal");
  assert.equal(globToRegExp("/d/[]].db").test("/d/].db"), true, "a leading ] is a member");
  assert.equal(globToRegExp("/d/[a.db").test("/d/[a.db"), true, "an unclosed [ is literal");
  assert.equal(globToRegExp("/d/[\\^]").test("/d/^"), true);
});

async function tree(files: string[]): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "walsync-glob-" });
  for (const file of files) {
    const path = `${root}/${file}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, "");
  }
  return root;
}

Deno.test("expandGlob finds tenants' databases and skips side files and staging folders", async () => {
  const root = await tree([
    "tenants/a/app.db",
    "tenants/a/app.db-wal",
    "tenants/a/app.db-shm",
    "tenants/a/app.db-journal",
    "tenants/a/.app.db-walsync/app.db",
    "tenants/b/app.db",
    "tenants/b/other.db",
    "tenants/c/nested/app.db",
    "tenants/app.db",
  ]);
  await Deno.mkdir(`${root}/tenants/d/app.db`, { recursive: true }); // A directory, not a file.
  try {
    assert.deepEqual(await expandGlob(`${root}/tenants/*/app.db`), [
      `${root}/tenants/a/app.db`,
      `${root}/tenants/b/app.db`,
    ]);
    assert.deepEqual(await expandGlob(`${root}/tenants/*/app.db*`), [
      `${root}/tenants/a/app.db`,
      `${root}/tenants/b/app.db`,
    ]);
    assert.deepEqual(await expandGlob(`${root}/tenants/**/app.db`), [
      `${root}/tenants/a/app.db`,
      `${root}/tenants/app.db`,
      `${root}/tenants/b/app.db`,
      `${root}/tenants/c/nested/app.db`,
    ]);
    assert.deepEqual(await expandGlob(`${root}/**/*.db`), [
      `${root}/tenants/a/app.db`,
      `${root}/tenants/app.db`,
      `${root}/tenants/b/app.db`,
      `${root}/tenants/b/other.db`,
      `${root}/tenants/c/nested/app.db`,
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("expandGlob skips walsync temp files and follows symlinks outside **", async () => {
  const root = await tree(["real/x.db", "real/x.db.walsync-tmp", "dbs/y.db"]);
  await Deno.symlink(`${root}/real`, `${root}/dbs/linked`);
  await Deno.symlink(`${root}/real/x.db`, `${root}/dbs/z.db`);
  try {
    assert.deepEqual(await expandGlob(`${root}/real/*`), [`${root}/real/x.db`]);
    assert.deepEqual(await expandGlob(`${root}/dbs/*/x.db`), [`${root}/dbs/linked/x.db`]);
    assert.deepEqual(await expandGlob(`${root}/dbs/**`), [`${root}/dbs/y.db`, `${root}/dbs/z.db`]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("expandGlob matches nothing under a missing root", async () => {
  const root = await Deno.makeTempDir({ prefix: "walsync-glob-" });
  try {
    assert.deepEqual(await expandGlob(`${root}/missing/*/app.db`), []);
    assert.deepEqual(await expandGlob(`${root}/missing/**`), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("defaultName uses the base name, the path below the glob root, or name", () => {
  const literal = { glob: false, root: "/data" };
  assert.equal(defaultName(literal, "/data/app.db"), "app.db");
  assert.equal(defaultName({ ...literal, name: "main.db" }, "/data/app.db"), "main.db");
  const glob = { glob: true, root: "/srv/tenants" };
  assert.equal(defaultName(glob, "/srv/tenants/a/app.db"), "a/app.db");
  assert.equal(defaultName({ ...glob, name: "prod" }, "/srv/tenants/a/app.db"), "prod/a/app.db");
  assert.equal(defaultName({ glob: true, root: "/" }, "/x.db"), "x.db");
});

Deno.test("resolvePath joins relative paths to the base and normalises", () => {
  assert.equal(resolvePath("/etc/walsync", "app.db"), "/etc/walsync/app.db");
  assert.equal(resolvePath("/etc/walsync", "./data/../app.db"), "/etc/walsync/app.db");
  assert.equal(resolvePath("/etc/walsync", "../data//app.db"), "/etc/data/app.db");
  assert.equal(resolvePath("/etc/walsync", "/abs/app.db"), "/abs/app.db");
  assert.equal(resolvePath("/etc", "~/app.db"), "/etc/~/app.db");
  assert.equal(resolvePath("/etc", "tenants/*/app.db"), "/etc/tenants/*/app.db");
});
