/**
 * `walsync snapshot` while `walsync watch` replicates the same database: the daemon holds the
 * database's staging lock, so the command asks it instead. It writes a request file into the
 * staging directory (one per request, so several may wait) and sends the daemon SIGUSR1; the daemon takes the snapshot, uploads it,
 * and answers with a result file named after the request. Both files take the mode of the
 * staging directory's files (the database's), like everything else in it.
 */
import { fileModeIn, writeFileDurably } from "../durable.ts";
import { WalsyncError } from "../errors.ts";

const REQUEST_NAME = /^snapshot-request-([0-9a-f-]{1,64})\.json$/;
const POLL_MS = 50;

export interface SnapshotRequest {
  id: string;
  /** The replica the requester means (`ReplicaClient.location`); the daemon checks it. */
  replica: string;
}

export type SnapshotAnswer =
  | { ok: true; txid: number; checksum: string; replica: string }
  | { ok: false; error: string };

/** The daemon could not take the requested snapshot. */
export class SnapshotRequestError extends WalsyncError {}

export async function writeSnapshotRequest(dir: string, request: SnapshotRequest): Promise<void> {
  await writeFileDurably(
    `${dir}/snapshot-request-${request.id}.json`,
    new TextEncoder().encode(JSON.stringify(request)),
    { mode: await fileModeIn(dir) },
  );
}

/** Takes (reads and removes) every pending request in `dir`. */
export async function takeSnapshotRequests(dir: string): Promise<SnapshotRequest[]> {
  const requests: SnapshotRequest[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = REQUEST_NAME.exec(entry.name);
      if (!match) continue;
      const path = `${dir}/${entry.name}`;
      try {
        const request = JSON.parse(await Deno.readTextFile(path));
        requests.push({ id: match[1], replica: String(request?.replica ?? "") });
      } catch { /* unreadable: dropped below */ }
      await Deno.remove(path).catch(() => {});
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return requests;
}

export async function writeSnapshotAnswer(
  dir: string,
  id: string,
  answer: SnapshotAnswer,
): Promise<void> {
  await writeFileDurably(answerPath(dir, id), new TextEncoder().encode(JSON.stringify(answer)), {
    mode: await fileModeIn(dir),
  });
}

/** Waits for the answer to request `id` (removing it), or throws after `timeoutMs`. */
export async function waitForSnapshotAnswer(
  dir: string,
  id: string,
  options: { timeoutMs: number; isAlive: () => boolean },
): Promise<SnapshotAnswer> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    try {
      const answer = JSON.parse(await Deno.readTextFile(answerPath(dir, id))) as SnapshotAnswer;
      await Deno.remove(answerPath(dir, id)).catch(() => {});
      return answer;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (!options.isAlive()) {
      throw new SnapshotRequestError("The running walsync exited before answering the request");
    }
    if (Date.now() > deadline) {
      throw new SnapshotRequestError(
        `The running walsync did not answer within ${Math.round(options.timeoutMs / 1000)}s`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function answerPath(dir: string, id: string): string {
  return `${dir}/snapshot-answer-${id}.json`;
}
