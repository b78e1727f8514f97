/** `walsync status [--json]`: asks the running `walsync watch` how each database stands. */
import { UsageError, WalsyncError } from "../errors.ts";
import { parseListenAddress } from "../observe/http_server.ts";
import {
  controlSocketDir,
  listControlSockets,
  readControlSocket,
} from "../observe/control_socket.ts";
import type { StatusReport } from "../observe/status_report.ts";
import { processAlive } from "../process_alive.ts";
import { parseCommandArgs, stringFlag } from "./args.ts";
import { CONFIG_FLAG, CONFIG_FLAG_HELP, loadCommandConfig } from "./command_config.ts";
import { EXIT_OK } from "./exit_codes.ts";
import { writeJson, writeOut } from "./output.ts";

export const STATUS_HELP =
  `Usage: walsync status [--json] [--metrics-addr A | --pid N] [--config FILE]

Asks the running "walsync watch" for each database's state (active, released, failing),
local and replicated TXID, replica lag, WAL size, staged bytes and last error. Without a
running daemon it says so and exits 1.

How it finds the daemon: through the metrics listener when one is configured
(--metrics-addr, or [metrics] addr in walsync.toml: GET /status), else through the control
socket every "watch" opens, <run dir>/walsync-<pid>.sock (run dir: $WALSYNC_RUN_DIR, else
$XDG_RUNTIME_DIR/walsync, else /tmp/walsync-<uid>). Several daemons are all shown.

Options:
${CONFIG_FLAG_HELP}
      --metrics-addr A    Ask the metrics listener at A (HOST:PORT)
      --pid N             Only the daemon with process id N
      --json              Print the report as JSON on stdout (an array with several daemons)

Examples:
  walsync status
  walsync status --json
  walsync status --metrics-addr 127.0.0.1:9090`;

/** How long to wait for a daemon's answer. */
const ANSWER_TIMEOUT_MS = 10_000;

export async function statusCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("status", args, {
    ...CONFIG_FLAG,
    "metrics-addr": { type: "string" },
    pid: { type: "string" },
    json: { type: "boolean" },
  });
  if (parsed.values.help) {
    writeOut(STATUS_HELP);
    return EXIT_OK;
  }
  if (parsed.positionals.length > 0) {
    throw new UsageError(`status takes no arguments, got "${parsed.positionals[0]}"`);
  }
  const pidText = stringFlag(parsed, "pid");
  const pid = pidText === undefined ? null : Number(pidText);
  if (pid !== null && (!Number.isSafeInteger(pid) || pid <= 0)) {
    throw new UsageError(`--pid must be a process id, got "${pidText}"`);
  }
  const explicitAddr = stringFlag(parsed, "metrics-addr");
  const config = explicitAddr === undefined && pid === null
    ? await loadCommandConfig(parsed)
    : null;
  const addr = explicitAddr ?? config?.metrics?.addr;
  const reports = addr !== undefined ? [await askListener(addr)] : await askSockets(pid);
  if (parsed.values.json) {
    writeJson(reports.length === 1 ? reports[0] : reports);
  } else {
    writeOut(reports.map(formatReport).join("\n\n"));
  }
  return EXIT_OK;
}

async function askListener(addr: string): Promise<StatusReport> {
  const { hostname, port } = parseListenAddress(addr);
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const url = `http://${host}:${port}/status`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
  } catch (error) {
    throw new WalsyncError(
      `No walsync daemon answers on ${host}:${port} (${
        (error as Error).message
      }); is "walsync watch" running with this metrics address?`,
      { cause: error },
    );
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new WalsyncError(`${url} answered HTTP ${response.status}; is it a walsync daemon?`);
  }
  return await response.json() as StatusReport;
}

async function askSockets(pid: number | null): Promise<StatusReport[]> {
  const dir = controlSocketDir();
  const reports: StatusReport[] = [];
  for (const socket of listControlSockets(dir)) {
    if (pid !== null && socket.pid !== pid) continue;
    const report = await readControlSocket(socket.path) as StatusReport | null;
    if (report !== null) {
      reports.push(report);
    } else if (!processAlive(socket.pid)) {
      // Left by a daemon that was killed: nobody will answer there again.
      await Deno.remove(socket.path).catch(() => {});
    }
  }
  if (reports.length === 0) {
    throw new WalsyncError(
      pid !== null
        ? `No walsync daemon with pid ${pid} answers (no live control socket in "${dir}")`
        : `No walsync daemon is running (no live control socket in "${dir}"; a daemon started with another WALSYNC_RUN_DIR or XDG_RUNTIME_DIR is found with --metrics-addr)`,
    );
  }
  return reports;
}

function formatReport(report: StatusReport): string {
  const head =
    `walsync ${report.version} pid ${report.pid} → ${report.replica}; lease ${report.lease}; ${
      report.healthy ? "healthy" : "UNHEALTHY"
    } (max lag ${report.maxLagSeconds}s); ${report.databases.length} database${
      report.databases.length === 1 ? "" : "s"
    }`;
  const rows = [["DATABASE", "STATE", "TXID", "REPLICATED", "LAG", "WAL", "STAGED", "PROBLEM"]];
  for (const d of report.databases) {
    rows.push([
      d.name,
      d.state,
      String(d.txid),
      String(d.replicatedTxid),
      `${d.lagSeconds.toFixed(1)}s`,
      formatBytes(d.walSizeBytes),
      formatBytes(d.stagedBytes),
      d.lastError ?? d.problem ?? "",
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
  return [head, ...lines].join("\n");
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)}${units[unit]}`;
}
