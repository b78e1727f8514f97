/** Runs the real walsync CLI as a child process, to be stopped gracefully or SIGKILLed. */
const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const DEBUG = Deno.env.get("WALSYNC_TEST_DEBUG") !== undefined;

export class WalsyncProcess {
  #child: Deno.ChildProcess;
  #stderr = "";
  #drained: Promise<void>;

  /** Starts `walsync <args>`; logs are JSON lines so readiness can be seen. */
  constructor(args: string[], options: { env?: Record<string, string> } = {}) {
    const child = new Deno.Command(Deno.execPath(), {
      env: options.env,
      args: [
        "run",
        "-A",
        MOD,
        ...args,
        "--log-format",
        "json",
        ...(DEBUG ? ["--log-level", "debug"] : []),
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#drained = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.#stderr += chunk;
        if (DEBUG) Deno.stderr.writeSync(new TextEncoder().encode(chunk));
      }
    })();
  }

  get stderr(): string {
    return this.#stderr;
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Sends `signal` (e.g. SIGINT) without waiting. */
  signal(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /**
   * The exit code once the process ended, or null if it still runs after `timeoutMs` (a hang
   * detector, not a timing assertion: pick a bound far above the expected time).
   */
  async exited(timeoutMs: number): Promise<number | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      this.#child.status,
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), timeoutMs)),
    ]);
    clearTimeout(timer);
    if (status === null) return null;
    await this.#drained;
    return status.code;
  }

  /** Waits until walsync says it is watching (its signal handlers are installed by then). */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#stderr.includes('"msg":"watching"')) {
      if (Date.now() > deadline) throw new Error(`walsync did not start: ${this.#stderr}`);
      const status = await Promise.race([
        this.#child.status,
        new Promise((r) => setTimeout(r, 20)),
      ]);
      if (status) throw new Error(`walsync exited during start-up: ${this.#stderr}`);
    }
  }

  /** SIGKILL: no final sync, no cleanup, exactly like a crash. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#child.status;
    await this.#drained;
  }

  /** Waits for readiness, sends SIGTERM, waits: returns the exit code and its stderr. */
  async stop(): Promise<{ code: number; stderr: string }> {
    await this.ready();
    this.#child.kill("SIGTERM");
    const { code } = await this.#child.status;
    await this.#drained;
    return { code, stderr: this.#stderr };
  }
}
