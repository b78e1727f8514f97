/** Durable local writes: temp file, fsync, rename, fsync the directory. */

export interface DurableWriteOptions {
  /** Set the file's modification time (Litestream reads LTX timestamps from it). */
  mtime?: Date;
  /** fsync the parent directory after the rename (default true). */
  syncDir?: boolean;
  /** Write `path` directly instead of a temp file renamed onto it (default: rename). */
  rename?: boolean;
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
  const file = await Deno.open(temp, { write: true, create: true, truncate: true });
  let sizeBytes = 0;
  try {
    const chunks = data instanceof Uint8Array ? [data] : data;
    for await (const chunk of chunks) {
      await writeChunk(file, chunk);
      sizeBytes += chunk.length;
    }
    await file.sync();
  } catch (error) {
    file.close();
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  file.close();
  if (options.mtime) await Deno.utime(temp, options.mtime, options.mtime);
  if (rename) await Deno.rename(temp, path);
  if (options.syncDir ?? true) await syncDirectory(path.slice(0, path.lastIndexOf("/")) || "/");
  return sizeBytes;
}

/** Writes all of `chunk` at the file's current position (a single write may be partial). */
export async function writeChunk(file: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  let at = 0;
  while (at < chunk.length) at += await file.write(chunk.subarray(at));
}

/** fsyncs a directory so a rename or unlink in it is durable (a no-op where unsupported). */
export async function syncDirectory(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}
