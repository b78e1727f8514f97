/** `walsync watch DB... -b URL`: the daemon. */
import { DatabaseSync } from "node:sqlite";
import { parseDuration } from "../config/duration.ts";
import { parseSize } from "../config/size.ts";
import { UsageError } from "../errors.ts";
import { Logger } from "../log.ts";
import { openReplicaUrl } from "../replica/replica_url.ts";
import { DEFAULT_CHECKPOINT_PAGES, DEFAULT_TRUNCATE_PAGES } from "../replicate/replicator.ts";
import { Supervisor } from "../replicate/supervisor.ts";
import type { LeaseLostError, S3Lease } from "../replica/s3/s3_lease.ts";
import type { S3ReplicaClient } from "../replica/s3/s3_replica_client.ts";
import { absolutePath, parseCommandArgs, type ParsedArgs, stringFlag } from "./args.ts";
import { EXIT_OK } from "./exit_codes.ts";

export const WATCH_HELP = `Usage: walsync watch DB... -b URL [options]

Replicates every committed transaction of each database to the replica until stopped
(SIGINT/SIGTERM do a final sync and upload, then exit 0).

Options:
  -b, --bucket URL        Replica: file:///dir (a local directory) or s3://bucket/prefix
                          (endpoint from AWS_ENDPOINT_URL_S3 or ?endpoint=https://host)
      --sync-interval D   How often changes are shipped (default 1s; 0 = as soon as seen).
                          Durations: 100ms, 5s, 1m, 1h or integer seconds
      --checkpoint-pages N  Checkpoint (PASSIVE) once the WAL holds N frames (default 1000)
      --checkpoint-idle D   Checkpoint a WAL unchanged for D (default 1m)
      --truncate-pages N    Above N frames also TRUNCATE the WAL file (default 121359)
      --max-staging SIZE    Stop capturing while this much waits for upload (default 1GiB);
                          the WAL keeps every frame meanwhile
      --create            Create a database that does not exist (empty, WAL mode)
      --once              Sync and upload everything once, then exit
      --log-format F      text or json (default: text on a terminal, json otherwise)
      --log-level L       debug, info, warn or error (default info)

Each database's replica name is its file name: watch /data/app.db -b file:///backups
writes /backups/app.db/ltx/<level>/<min>-<max>.ltx, the layout Litestream 0.5 reads.
Applications should set busy_timeout (e.g. 5000 ms): walsync briefly takes the write
lock during its checkpoints.

Example:
  walsync watch app.db -b file:///var/backups/walsync --sync-interval 1s`;

export async function watchCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("watch", args, {
    bucket: { type: "string", short: "b" },
    "sync-interval": { type: "string" },
    create: { type: "boolean" },
    "checkpoint-pages": { type: "string" },
    "checkpoint-idle": { type: "string" },
    "truncate-pages": { type: "string" },
    "max-staging": { type: "string" },
    once: { type: "boolean" },
    "log-format": { type: "string" },
    "log-level": { type: "string" },
  });
  if (parsed.values.help) return printHelp(WATCH_HELP);
  const url = stringFlag(parsed, "bucket");
  if (!url) {
    throw new UsageError('watch needs a replica: -b file:///dir (run "walsync help watch")');
  }
  if (parsed.positionals.length === 0) {
    throw new UsageError('watch needs at least one database path (run "walsync help watch")');
  }
  const syncIntervalMs = parseDuration(
    stringFlag(parsed, "sync-interval") ?? "1s",
    "--sync-interval",
  );
  const logger = makeLogger(parsed.values["log-format"], parsed.values["log-level"]);
  const client = await openReplicaUrl(url);

  const names = new Map<string, string>();
  for (const arg of parsed.positionals) {
    const path = absolutePath(arg);
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (names.has(name)) {
      throw new UsageError(
        `Databases "${names.get(name)}" and "${path}" would share the replica name "${name}"`,
      );
    }
    names.set(name, path);
    if (parsed.values.create) createIfMissing(path);
  }

  // Listen before opening anything: a signal during startup still ends in a clean stop.
  const controller = new AbortController();
  const onSignal = () => {
    logger.info("stopping: final sync and upload");
    controller.abort();
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  const supervisor = new Supervisor({
    client,
    syncIntervalMs,
    logger,
    replicator: {
      checkpointPages: positiveInteger(parsed, "checkpoint-pages", DEFAULT_CHECKPOINT_PAGES),
      truncatePages: positiveInteger(parsed, "truncate-pages", DEFAULT_TRUNCATE_PAGES),
      maxStagingBytes: parseSize(stringFlag(parsed, "max-staging") ?? "1GiB", "--max-staging"),
      idleCheckpointMs: parseDuration(
        stringFlag(parsed, "checkpoint-idle") ?? "1m",
        "--checkpoint-idle",
      ),
    },
  });
  // One writer per replica: an S3 replica holds a lease that a second walsync respects.
  let lease: S3Lease | null = null;
  if (client.kind === "s3") {
    const { S3Lease } = await import("../replica/s3/s3_lease.ts");
    lease = new S3Lease(client as S3ReplicaClient, { logger });
  }
  let leaseLost: LeaseLostError | null = null;
  try {
    if (lease) {
      await lease.acquire(controller.signal);
      void lease.keepAlive({
        signal: controller.signal,
        onLost: (error) => {
          logger.error("stopping without further uploads: the replica lease was lost", { error });
          leaseLost = error;
          controller.abort();
        },
      });
    }
    for (const [name, path] of names) await supervisor.add(path, name);
    if (parsed.values.once) {
      await supervisor.syncAll();
    } else {
      logger.info("watching", {
        databases: names.size,
        replica: client.location,
        syncInterval: `${syncIntervalMs}ms`,
      });
      await supervisor.run(controller.signal);
    }
  } finally {
    await supervisor.stop({ upload: leaseLost === null });
    controller.abort();
    if (leaseLost === null) await lease?.release().catch(() => {});
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  }
  if (leaseLost) throw leaseLost;
  return EXIT_OK;
}

function positiveInteger(parsed: ParsedArgs, name: string, fallback: number): number {
  const value = stringFlag(parsed, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`--${name} "${value}" is not a positive whole number`);
  }
  return Number(value);
}

function createIfMissing(path: string): void {
  try {
    Deno.statSync(path);
    return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL");
  db.close();
}

export function makeLogger(format: unknown, level: unknown): Logger {
  if (format !== undefined && format !== "text" && format !== "json") {
    throw new UsageError(`--log-format "${format}" is invalid; use text or json`);
  }
  if (level !== undefined && !["debug", "info", "warn", "error"].includes(level as string)) {
    throw new UsageError(`--log-level "${level}" is invalid; use debug, info, warn or error`);
  }
  return new Logger({
    format: format as "text" | "json" | undefined,
    level: level as "info" | undefined,
  });
}

function printHelp(text: string): number {
  Deno.stdout.writeSync(new TextEncoder().encode(`${text}\n`));
  return EXIT_OK;
}
