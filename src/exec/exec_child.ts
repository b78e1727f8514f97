/**
 * Exec mode: `watch --exec CMD` runs the application as walsync's child once replication is
 * running. SIGINT and SIGTERM sent to walsync are forwarded to the child (walsync keeps
 * replicating while it shuts down); when the child exits, walsync stops, runs its final sync
 * and upload, and exits with the child's exit code (killed by signal N: 128 + N). Should
 * walsync have to stop first (the lease was lost, an error), the child is asked to stop with
 * SIGTERM, and killed if it has not exited after `DEFAULT_CHILD_STOP_GRACE_MS`.
 */
import { WalsyncError } from "../errors.ts";
import type { Logger } from "../log.ts";

/** How long a child asked to stop (SIGTERM) gets before SIGKILL. */
export const DEFAULT_CHILD_STOP_GRACE_MS = 10_000;

const FORWARDED: Deno.Signal[] = ["SIGINT", "SIGTERM"];

export interface ChildExit {
  /** The exit code walsync passes on: the child's, or 128 + N when killed by signal N. */
  code: number;
  signal: Deno.Signal | null;
}

export class ExecChild {
  readonly argv: string[];
  #logger: Logger;
  #process: Deno.ChildProcess | null = null;
  #exit: ChildExit | null = null;
  #exited: Promise<ChildExit> | null = null;
  #forward = new Map<Deno.Signal, () => void>();

  constructor(argv: string[], logger: Logger) {
    this.argv = argv;
    this.#logger = logger.with({ exec: argv[0] });
  }

  /** Resolves once the child has exited, or at once if it never started. */
  get exited(): Promise<void> {
    return this.#exited?.then(() => {}) ?? Promise.resolve();
  }

  /** How the child exited, once it has. */
  get exit(): ChildExit | null {
    return this.#exit;
  }

  /**
   * Starts the child (stdio shared with walsync) and forwards SIGINT/SIGTERM to it;
   * `onExit` runs once it exits.
   */
  start(onExit: (exit: ChildExit) => void): void {
    const [program, ...args] = this.argv;
    try {
      this.#process = new Deno.Command(program, {
        args,
        stdin: "inherit",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
    } catch (error) {
      throw new WalsyncError(
        `Cannot start the exec command "${program}": ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.#logger.info("started the application", { pid: this.#process.pid });
    if (Deno.build.os !== "windows") {
      for (const signal of FORWARDED) {
        const forward = () => this.#send(signal);
        this.#forward.set(signal, forward);
        Deno.addSignalListener(signal, forward);
      }
    }
    this.#exited = this.#process.status.then((status) => {
      const exit = { code: status.code, signal: status.signal };
      this.#exit = exit;
      this.#logger.info("the application exited", {
        code: exit.code,
        ...(exit.signal ? { signal: exit.signal } : {}),
      });
      this.#unlisten();
      onExit(exit);
      return exit;
    });
  }

  /** Asks a running child to stop (SIGTERM), then kills it after `graceMs`; waits for it. */
  async stop(graceMs = DEFAULT_CHILD_STOP_GRACE_MS): Promise<void> {
    if (!this.#process || !this.#exited || this.#exit) return;
    this.#logger.warn("stopping the application: walsync is stopping", { graceMs });
    this.#send("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (!this.#exit) {
          this.#logger.warn("the application did not stop in time; killing it");
          this.#send("SIGKILL");
        }
        resolve();
      }, graceMs);
    });
    await Promise.race([this.#exited, killed]);
    await this.#exited;
    clearTimeout(timer);
  }

  #send(signal: Deno.Signal): void {
    if (!this.#process || this.#exit) return;
    try {
      this.#process.kill(signal);
      this.#logger.info("signal forwarded to the application", { signal });
    } catch (error) {
      this.#logger.debug("could not signal the application", { signal, error });
    }
  }

  #unlisten(): void {
    for (const [signal, forward] of this.#forward) Deno.removeSignalListener(signal, forward);
    this.#forward.clear();
  }
}
