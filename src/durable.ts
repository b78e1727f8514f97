/**
 * Durable local writes: temp file, fsync, rename, fsync the directory. Files and directories
 * that copy a database get its permission bits exactly, whatever the umask, so a private
 * database never leaves a world-readable copy behind (POSIX only: Windows has no mode bits).
 *
 * Only the fsyncs are asynchronous: opens, writes to the page cache, renames and chmods are
 * quick system calls, and Deno's asynchronous file operations each cost a hand-off to a
 * worker thread and back (tens of microseconds of CPU, measured: half of a busy daemon's CPU
 * went there). None of these files is a database, so no SQLite lock is at stake.
 */

export interface DurableWriteOptions {
  /** Set the file's modification time (Litestream reads LTX timestamps from it). */
  mtime?: Date;
  /** fsync the parent directory after the rename (default true). */
  syncDir?: boolean;
  /** Write `path` directly instead of a temp file renamed onto it (default: rename). */
  rename?: boolean;
  /**
   * Permission bits of the file, set exactly (the umask applies at create, so they are set
   * again with chmod before any byte is written). Default: the process's default, as before.
   * Ignored on Windows.
   */
  mode?: number;
}

/**
 * Writes `data` to `path` so that after return it survives a crash, whole or not at all.
 * Returns the bytes written.
 */
export async function writeFileDurably(
  path: string,
  data: Uint8Array | ReadableStream<Uint8Array>,
  options: DurableWriteOptions = {},
): Promise<number> {
  const rename = options.rename ?? true;
  const temp = rename ? `${path}.tmp` : path;
  const file = openForWriteSync(temp, options.mode);
  let sizeBytes = 0;
  try {
    if (data instanceof Uint8Array) {
      writeChunkSync(file, data);
      sizeBytes = data.length;
    } else {
      for await (const chunk of data) {
        writeChunkSync(file, chunk);
        sizeBytes += chunk.length;
      }
    }
    await file.sync();
  } catch (error) {
    file.close();
    try {
      Deno.removeSync(temp);
    } catch { /* not there */ }
    throw error;
  }
  file.close();
  if (options.mtime) Deno.utimeSync(temp, options.mtime, options.mtime);
  if (rename) Deno.renameSync(temp, path);
  if (options.syncDir ?? true) await syncDirectory(path.slice(0, path.lastIndexOf("/")) || "/");
  return sizeBytes;
}

/**
 * Creates (or truncates) `path` for writing with exactly `mode` (when given): created with it,
 * so the umask can only narrow it, then set again, before any content is written.
 */
// deno-lint-ignore require-await
export async function openForWrite(path: string, mode?: number): Promise<Deno.FsFile> {
  return openForWriteSync(path, mode);
}

function openForWriteSync(path: string, mode?: number): Deno.FsFile {
  const file = Deno.openSync(path, { write: true, create: true, truncate: true, mode });
  try {
    setModeSync(path, mode);
  } catch (error) {
    file.close();
    throw error;
  }
  return file;
}

/** Writes all of `chunk` at the file's current position (a single write may be partial). */
// deno-lint-ignore require-await
export async function writeChunk(file: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  writeChunkSync(file, chunk);
}

function writeChunkSync(file: Deno.FsFile, chunk: Uint8Array): void {
  let at = 0;
  while (at < chunk.length) at += file.writeSync(chunk.subarray(at));
}

/** fsyncs a directory so a rename or unlink in it is durable (a no-op where unsupported). */
export async function syncDirectory(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const handle = Deno.openSync(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * The mode for copies of a file whose mode is `sourceMode`: its read and write bits, never
 * execute, and always read-write for the owner, who must manage the copies.
 */
export function copyFileMode(sourceMode: number): number {
  return (sourceMode & 0o666) | 0o600;
}

/** The mode of a directory holding files of `fileMode`: searchable by whoever may read them. */
export function directoryModeFor(fileMode: number): number {
  return fileMode | ((fileMode & 0o444) >> 2);
}

/**
 * The mode for copies of the file at `path` (see `copyFileMode`), from a stat by path (never
 * an open: closing a descriptor of a database drops SQLite's POSIX locks). Undefined on
 * Windows, which has no mode bits, and for a missing file (whose open reports it).
 */
export function copyFileModeOf(path: string): number | undefined {
  if (Deno.build.os === "windows") return undefined;
  let mode: number | null;
  try {
    mode = Deno.statSync(path).mode;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return mode === null ? undefined : copyFileMode(mode);
}

/**
 * The file mode that goes with directory `dir` (`directoryModeFor` inverted): for files written
 * into a directory made with `directoryModeFor`, by code that knows only the directory.
 */
// deno-lint-ignore require-await
export async function fileModeIn(dir: string): Promise<number | undefined> {
  if (Deno.build.os === "windows") return undefined;
  const mode = Deno.statSync(dir).mode;
  return mode === null ? undefined : copyFileMode(mode);
}

/** Sets `path`'s permission bits to exactly `mode`; a no-op without a mode or on Windows. */
// deno-lint-ignore require-await
export async function setMode(path: string, mode: number | undefined): Promise<void> {
  setModeSync(path, mode);
}

function setModeSync(path: string, mode: number | undefined): void {
  if (mode === undefined || Deno.build.os === "windows") return;
  Deno.chmodSync(path, mode);
}

/**
 * Creates directory `path` and any missing parents up to (not including) `base`, each with
 * exactly `mode`; `base` itself is created with the process's default mode if missing.
 * Directories that exist are left as they are.
 */
export async function makeDirectories(path: string, base: string, mode: number): Promise<void> {
  try {
    Deno.mkdirSync(path, { mode });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return;
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    const parent = path.slice(0, path.lastIndexOf("/")) || "/";
    if (parent === base || !parent.startsWith(`${base}/`)) {
      Deno.mkdirSync(parent, { recursive: true });
    } else {
      await makeDirectories(parent, base, mode);
    }
    try {
      Deno.mkdirSync(path, { mode });
    } catch (again) {
      if (again instanceof Deno.errors.AlreadyExists) return; // made meanwhile
      throw again;
    }
  }
  setModeSync(path, mode);
}
