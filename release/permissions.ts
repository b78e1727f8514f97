/**
 * The permission flags every walsync binary is compiled with: the one list that
 * `release/compile.ts` (so the release workflow) and the permission test
 * (`tests/release_permissions_test.ts`) share.
 *
 * Why all eight, each without a scope: walsync opens databases by SQLite URI filename
 * (`file:/path?mode=rw`), so that a database deleted while walsync runs is never re-created
 * empty at its path. Deno 2.9.6's `node:sqlite` treats a URI filename as a URI only when every
 * permission is granted in full; with any one of these missing or scoped it takes the URI for a
 * relative file name and the open fails ("unable to open database file"). The test removes each
 * flag in turn and shows `watch` failing. Beyond SQLite, walsync itself needs read and write
 * (databases, staging, file replicas), net (S3), env (AWS settings, HOME), sys (hostname in the
 * lease, OS facts the AWS SDK reads) and run (`walsync snapshot` signals a running watch).
 */
export const PERMISSION_FLAGS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--allow-run",
  "--allow-ffi",
  "--allow-import",
];

/**
 * V8 flags of every walsync run: a 1 MB young generation keeps a daemon with many databases
 * near 94 MB instead of 177 MB for the same CPU (bench/README.md).
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=1";

/** The five targets a release ships, as `deno compile --target` names them. */
export const RELEASE_TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];
