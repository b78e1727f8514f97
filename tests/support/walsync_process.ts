/** Runs the real walsync CLI as a child process, to be stopped gracefully or SIGKILLed. */
const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const DEBUG = Deno.env.get("WALSYNC_TEST_DEBUG") !== undefined;

export class WalsyncProcess {
  #child: Deno.ChildProcess;
  #stderr = "";
  #drained: Promise<void>;

  /**
   * Starts `walsync <args>`; logs are JSON lines so readiness can be seen. `ulimitFiles`
   * lowers its file-descriptor limit (`ulimit -n`, through `sh`, which `exec`s it: same pid).
   */
  constructor(
    args: string[],
    options: { env?: Record<string, string>; ulimitFiles?: number } = {},
  ) {
    const command = [
      Deno.execPath(),
      "run",
      "-A",
      MOD,
      ...args,
      "--log-format",
      "json",
      ...(DEBUG ? ["--log-level", "debug"] : []),
    ];
    const limited = options.ulimitFiles !== undefined;
    const child = new Deno.Command(limited ? "sh" : command[0], {
      env: options.env,
      args: limited
        ? ["-c", `ulimit -n ${options.ulimitFiles} && exec "$0" "$@"`, ...command]
        : command.slice(1),
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
