/**
 * The daemon's control socket, so `walsync status` works without a metrics listener: a Unix
 * socket per `watch` process, `<run dir>/walsync-<pid>.sock`, in a directory only its user
 * can enter (mode 0700). A client connects and reads one JSON status report until the
 * daemon closes the connection; nothing it sends is read, so the socket cannot change
 * anything. A socket left by a killed daemon refuses connections and is removed by the next
 * `status` that finds it.
 *
 * Why a run directory rather than a database's staging directory: one daemon replicates
 * thousands of databases, each with its own staging directory, and idle ones are released;
 * `status` needs one place to find every running daemon without naming a database.
 */
import type { Logger } from "../log.ts";

const SOCKET_NAME = /^walsync-(\d+)\.sock$/;

/**
 * `WALSYNC_RUN_DIR`, else `$XDG_RUNTIME_DIR/walsync`, else `/tmp/walsync-<uid>`.
 */
export function controlSocketDir(): string {
  const env = (name: string) => {
    try {
      return Deno.env.get(name) || undefined;
    } catch {
      return undefined;
    }
  };
  const explicit = env("WALSYNC_RUN_DIR");
  if (explicit) return explicit;
  const runtime = env("XDG_RUNTIME_DIR");
  if (runtime) return `${runtime}/walsync`;
  return `/tmp/walsync-${Deno.uid() ?? "user"}`;
}

export function controlSocketPath(pid: number, dir = controlSocketDir()): string {
  return `${dir}/walsync-${pid}.sock`;
}

export interface ControlSocket {
  readonly path: string;
  close(): Promise<void>;
}

/** Listens on this process's control socket; each connection gets `report()` as JSON. */
export function startControlSocket(
  report: () => unknown,
  logger: Logger,
): ControlSocket | null {
  if (Deno.build.os === "windows") return null;
  const dir = controlSocketDir();
  const path = controlSocketPath(Deno.pid, dir);
  let listener: Deno.Listener;
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const info = Deno.statSync(dir);
    if (info.uid !== null && info.uid !== Deno.uid()) {
      throw new Error(`"${dir}" belongs to another user`);
    }
    Deno.chmodSync(dir, 0o700);
    try {
      Deno.removeSync(path); // a previous process with this pid left it
    } catch { /* none */ }
    listener = Deno.listen({ transport: "unix", path });
  } catch (error) {
    // Status then needs the metrics listener; replication goes on regardless.
    logger.warn("cannot open the control socket; walsync status will not find this daemon", {
      path,
      error,
    });
    return null;
  }
  const serving = (async () => {
    for await (const conn of listener) {
      void answer(conn, report, logger);
    }
  })().catch(() => {});
  return {
    path,
    close: async () => {
      listener.close();
      await serving;
      try {
        Deno.removeSync(path);
      } catch { /* gone */ }
    },
  };
}

async function answer(conn: Deno.Conn, report: () => unknown, logger: Logger): Promise<void> {
  try {
    const body = new TextEncoder().encode(`${JSON.stringify(report())}\n`);
    for (let at = 0; at < body.length;) at += await conn.write(body.subarray(at));
  } catch (error) {
    logger.debug("control socket: a client went away", { error });
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** The control sockets in the run directory, with the pid each names. */
export function listControlSockets(dir = controlSocketDir()): { pid: number; path: string }[] {
  const found: { pid: number; path: string }[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      const match = SOCKET_NAME.exec(entry.name);
      if (match) found.push({ pid: Number(match[1]), path: `${dir}/${entry.name}` });
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found.sort((a, b) => a.pid - b.pid);
}

/** Reads the report a daemon's socket answers; null when nothing listens there (stale). */
export async function readControlSocket(path: string): Promise<unknown | null> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch {
    return null;
  }
  try {
    const text = await new Response(conn.readable).text();
    return JSON.parse(text);
  } catch {
    return null;
  }
}
