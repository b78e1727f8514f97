/**
 * SIGINT and SIGTERM for commands that must clean up before they exit (a restore's temp file,
 * verify's rebuilt database): the signal aborts the work instead of killing the process.
 */
import { WalsyncError } from "../errors.ts";

/** The command was stopped by a signal. */
export class InterruptedError extends WalsyncError {}

/**
 * Calls `handler` on SIGINT or SIGTERM (SIGINT only on Windows) instead of dying; returns the
 * function that stops listening, after which a signal kills the process again.
 */
export function onInterrupt(handler: (signal: Deno.Signal) => void): () => void {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const listeners = signals.map((signal) => [signal, () => handler(signal)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  return () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
}
