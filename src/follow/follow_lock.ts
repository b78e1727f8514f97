/**
 * One follower per copy: `replicate` holds an exclusive lock on `PATH.walsync-follow.lock`
 * (one database) or `DIR/.walsync-follow.lock` (--all, a PATTERN) for its lifetime. Two
 * followers applying to one copy would each invalidate the other's position. The lock is
 * `flock` on a file of its own, so it never meets SQLite's POSIX locks on the copy.
 */
import { WalsyncError } from "../errors.ts";

/** Another `walsync replicate` follows into the same place. */
export class FollowLockedError extends WalsyncError {}

export function followLockPath(
  target: { kind: "one"; path: string } | { kind: "many"; dir: string },
): string {
  return target.kind === "one"
    ? `${target.path}.walsync-follow.lock`
    : `${target.dir}/.walsync-follow.lock`;
}

/** Takes the lock (creating the directory); the returned file holds it until closed. */
export async function acquireFollowLock(lockPath: string): Promise<Deno.FsFile> {
  Deno.mkdirSync(lockPath.slice(0, lockPath.lastIndexOf("/")) || "/", { recursive: true });
  const file = await Deno.open(lockPath, { read: true, write: true, create: true });
  if (!(await file.tryLock(true))) {
    file.close();
    throw new FollowLockedError(
      `Another "walsync replicate" holds "${lockPath}"; stop it first or choose another -o`,
    );
  }
  return file;
}
