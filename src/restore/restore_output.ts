/**
 * Where a restore writes. OUT is checked before anything is downloaded (a directory, a missing
 * parent, an existing file without `force`, a database a running `walsync watch` replicates),
 * then the restore writes a temp file beside it that cannot collide with anything:
 * `OUT.<16 hex>.walsync-tmp`, created exclusively with mode 0600 and held under an exclusive
 * lock for the restore's lifetime. Only a verified restore renames it onto OUT. A restore
 * killed outright (SIGKILL, power loss) leaves its temp file behind; the next restore of the
 * same OUT removes it, knowing it by its name, its free lock and its content.
 */
import { syncDirectory } from "../durable.ts";
import { type Logger, silentLogger } from "../log.ts";
import { daemonOwner, defaultStagingDir } from "../replicate/staging.ts";
import { OutputPathError, RestoreError } from "./restore_error.ts";

export const TEMP_SUFFIX = ".walsync-tmp";
/** A new OUT's mode: private until the user's own is known (umask can only narrow it). */
export const NEW_OUTPUT_MODE = 0o600;
/** Random bytes in a temp file's name (16 hex digits). */
const TEMP_RANDOM_BYTES = 8;
/** New names tried when a temp file vanishes under us (another restore took it for stale). */
const TEMP_ATTEMPTS = 3;
/** The first bytes of every SQLite database file. */
const SQLITE_MAGIC = new TextEncoder().encode("SQLite format 3\0");

export interface RestoreOutputOptions {
  /** Replace an existing OUT (its mode is kept). */
  force?: boolean;
  logger?: Logger;
}

export class RestoreOutput {
  /** OUT, where the database appears once verified. */
  readonly path: string;
  /** The temp file being written. */
  readonly tempPath: string;
  /** The temp file, open for reading and writing, locked until `commit` or `discard`. */
  readonly file: Deno.FsFile;
  readonly #force: boolean;
  #state: "open" | "committed" | "discarded" = "open";

  private constructor(path: string, tempPath: string, file: Deno.FsFile, force: boolean) {
    this.path = path;
    this.tempPath = tempPath;
    this.file = file;
    this.#force = force;
  }

  /** Checks OUT, removes stale temp files of earlier restores of it, creates a new one. */
  static async create(output: string, options: RestoreOutputOptions = {}): Promise<RestoreOutput> {
    const force = options.force ?? false;
    const log = options.logger ?? silentLogger;
    await checkOutputPath(output, force);
    await refuseReplicatedDatabase(output);
    await removeStaleTemps(output, log);
    const dir = parentDir(output);
    for (let attempt = 1;; attempt++) {
      const tempPath = `${output}.${randomHex(TEMP_RANDOM_BYTES)}${TEMP_SUFFIX}`;
      let file: Deno.FsFile;
      try {
        file = await Deno.open(tempPath, {
          read: true,
          write: true,
          createNew: true,
          mode: NEW_OUTPUT_MODE,
        });
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists && attempt < TEMP_ATTEMPTS) continue;
        throw new OutputPathError(
          `Cannot create a file in "${dir}" for "${output}": ${
            reasonOf(error)
          }; choose another -o or make the directory writable`,
          { cause: error },
        );
      }
      // Between the create and the lock another restore may take the file for a stale one
      // and remove it: then it is not ours any more, and a fresh name is tried.
      // Windows locks are mandatory: SQLite could not read the file for its integrity check.
      if (Deno.build.os !== "windows") await file.lock(true);
      if (await isSameFile(file, tempPath)) return new RestoreOutput(output, tempPath, file, force);
      file.close();
      if (attempt >= TEMP_ATTEMPTS) {
        throw new RestoreError(`The temp file "${tempPath}" kept disappearing; try again`);
      }
    }
  }

  get committed(): boolean {
    return this.#state === "committed";
  }

  /**
   * Makes the written database OUT: fsync, the mode of the OUT it replaces (0600 for a new
   * one), rename, fsync the directory. With `force`, OUT's stale `-wal`/`-shm` go first: SQLite
   * would replay them onto the restored database.
   */
  async commit(): Promise<void> {
    if (this.#state !== "open") throw new Error(`RestoreOutput is ${this.#state}`);
    await this.file.sync();
    if (Deno.build.os !== "windows") {
      const mode = await modeOf(this.path);
      if (mode !== null) await Deno.chmod(this.tempPath, mode);
    }
    if (this.#force) {
      await removeIfExists(`${this.path}-wal`);
      await removeIfExists(`${this.path}-shm`);
    }
    await Deno.rename(this.tempPath, this.path);
    this.#state = "committed";
    this.file.close();
    await syncDirectory(parentDir(this.path));
  }

  /** Removes the temp file and the side files SQLite made beside it; idempotent. */
  async discard(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "discarded";
    // Removed while still locked, so no other restore can mistake it for a stale one.
    for (const path of [this.tempPath, `${this.tempPath}-wal`, `${this.tempPath}-shm`]) {
      await removeIfExists(path).catch(() => {});
    }
    this.file.close();
  }
}

/**
 * Fails, naming the path, unless OUT can be written: not ending in "/", its directory there,
 * not itself a directory, and absent (with its `-wal`) unless `force`. Nothing is touched.
 */
export async function checkOutputPath(output: string, force: boolean): Promise<void> {
  if (output.endsWith("/")) {
    throw new OutputPathError(
      `Output "${output}" ends with "/"; give the path of the database file to write, e.g. "${output}app.db"`,
    );
  }
  const dir = parentDir(output);
  const dirInfo = await statOrNull(dir);
  if (dirInfo === null) {
    throw new OutputPathError(
      `Output directory "${dir}" does not exist; create it first (mkdir -p "${dir}") or choose another -o`,
    );
  }
  if (!dirInfo.isDirectory) {
    throw new OutputPathError(`Output directory "${dir}" is not a directory; choose another -o`);
  }
  const info = await statOrNull(output);
  if (info?.isDirectory) {
    throw new OutputPathError(
      `Output "${output}" is a directory; give the path of the database file to write, e.g. "${output}/app.db"`,
    );
  }
  if (force) return;
  for (const path of [output, `${output}-wal`]) {
    if (await lstatOrNull(path) === null) continue;
    throw new OutputPathError(
      `Output "${path}" already exists; restore refuses to overwrite it (use --force to replace it)`,
    );
  }
}

/**
 * Refuses OUT while a `walsync watch` replicates it: the daemon holds an exclusive lock on the
 * lock file in the database's staging directory, and a database swapped under it would stop
 * being replicated. The probe locks that file (not the database, so no SQLite lock is
 * affected) and lets go at once.
 */
export async function refuseReplicatedDatabase(output: string): Promise<void> {
  const dirs = new Set([defaultStagingDir(output)]);
  // The daemon may know the database by its real path (a symlink, or a symlinked directory).
  for (const real of [await realPathOrNull(output), await realPathOfParent(output)]) {
    if (real !== null) dirs.add(defaultStagingDir(real));
  }
  for (const dir of dirs) {
    const pid = await lockHolder(`${dir}/lock`);
    if (pid === undefined) continue;
    throw new OutputPathError(
      `Database "${output}" is being replicated by walsync (${
        pid === null ? `lock "${dir}/lock" is held` : `pid ${pid}`
      }); stop that walsync first, or restore to another path`,
    );
  }
}

/**
 * Removes temp files that earlier restores of OUT left behind when they were killed: named
 * `OUT.<16 hex>.walsync-tmp`, their lock free (a running restore holds its own), and empty or
 * a SQLite file (what a restore writes first). Anything else is left alone with a warning.
 */
export async function removeStaleTemps(output: string, log: Logger = silentLogger): Promise<void> {
  // Without advisory locks a live restore's temp file cannot be told from a stale one.
  if (Deno.build.os === "windows") return;
  const dir = parentDir(output);
  const base = output.slice(output.lastIndexOf("/") + 1);
  const pattern = new RegExp(`^${escapeRegExp(base)}\\.[0-9a-f]{16}${escapeRegExp(TEMP_SUFFIX)}$`);
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && pattern.test(entry.name)) names.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
    return; // a directory we may write but not list: no stale file can be found
  }
  for (const name of names) {
    const path = `${dir}/${name}`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch {
      continue; // gone already, or not ours to read
    }
    try {
      if (!(await file.tryLock(true))) continue; // a restore is writing it right now
      if (!(await looksLikeRestoreTemp(file)) || !(await isSameFile(file, path))) {
        log.warn("left alone a file named like a restore's temp file that is not one", { path });
        continue;
      }
      await Deno.remove(path);
      for (const side of [`${path}-wal`, `${path}-shm`]) await removeIfExists(side);
      log.warn(`removed ${path}, the temp file of an interrupted restore of ${output}`, {
        path,
      });
    } finally {
      file.close();
    }
  }
}

/** Empty, or starting like a SQLite database: what a restore's temp file holds. */
async function looksLikeRestoreTemp(file: Deno.FsFile): Promise<boolean> {
  const { size } = await file.stat();
  if (size === 0) return true;
  const head = new Uint8Array(SQLITE_MAGIC.length);
  let read = 0;
  while (read < head.length) {
    const n = await file.read(head.subarray(read));
    if (n === null) return false;
    read += n;
  }
  return head.every((byte, i) => byte === SQLITE_MAGIC[i]);
}

/** Whether `path` still names the file `file` has open. */
async function isSameFile(file: Deno.FsFile, path: string): Promise<boolean> {
  if (Deno.build.os === "windows") return true;
  const [open, named] = [await file.stat(), await statOrNull(path)];
  return named !== null && open.ino === named.ino && open.dev === named.dev;
}

/**
 * The pid of the walsync that replicates the database whose lock file is `lockPath` (holding
 * the lock, or a running watch that let go of it while idle): undefined when none, null when
 * unknown.
 */
async function lockHolder(lockPath: string): Promise<number | null | undefined> {
  const owner = await daemonOwner(lockPath.slice(0, lockPath.lastIndexOf("/")));
  if (owner === null) return undefined;
  return owner.pid > 0 ? owner.pid : null;
}

async function modeOf(path: string): Promise<number | null> {
  const info = await statOrNull(path);
  const mode = info?.mode;
  return mode === undefined || mode === null ? null : mode & 0o7777;
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}

async function realPathOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.realPath(path);
  } catch {
    return null;
  }
}

async function realPathOfParent(path: string): Promise<string | null> {
  const dir = await realPathOrNull(parentDir(path));
  return dir === null ? null : `${dir === "/" ? "" : dir}/${path.slice(path.lastIndexOf("/") + 1)}`;
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

export function parentDir(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function reasonOf(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/ \(os error \d+\).*$/, "");
}
