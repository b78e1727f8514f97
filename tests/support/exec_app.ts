/**
 * The application `watch --exec` runs in tests: `exec_app.ts DB MODE [READY_FILE]`.
 * - `exit:N`: inserts the row "exit N" and exits with N at once;
 * - `kill`: inserts "killed" and kills itself with SIGKILL (walsync must exit 137);
 * - `wait:N`: creates READY_FILE, then on SIGTERM inserts "sigterm" and exits with N.
 * Every row goes in just before the exit, so only walsync's final sync can ship it.
 */
import { DatabaseSync } from "node:sqlite";

const [path, mode, readyFile] = Deno.args;

function insert(value: string): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA busy_timeout=5000");
  db.exec("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, v TEXT)");
  db.prepare("INSERT INTO events (v) VALUES (?)").run(value);
  // No close: an application killed or exiting at once leaves its WAL as it is.
}

if (mode.startsWith("exit:")) {
  insert(`exit ${mode.slice(5)}`);
  Deno.exit(Number(mode.slice(5)));
} else if (mode === "kill") {
  insert("killed");
  Deno.kill(Deno.pid, "SIGKILL");
} else if (mode.startsWith("wait:")) {
  Deno.addSignalListener("SIGTERM", () => {
    insert("sigterm");
    Deno.exit(Number(mode.slice(5)));
  });
  Deno.writeTextFileSync(readyFile, "ready");
  setInterval(() => {}, 1000);
}
