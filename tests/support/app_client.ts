/** Drives `app_process.ts` from a test: one command, one answer. */
export type Dump = Record<string, unknown[]>;

export class AppProcess {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;

  constructor(dbPath: string, pageSize: number) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./app_process.ts", import.meta.url).pathname,
        dbPath,
        String(pageSize),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines())
      [Symbol.asyncIterator]();
  }

  async send(
    command: Record<string, unknown>,
  ): Promise<{ ok: boolean; dump?: Dump; result?: unknown; error?: string }> {
    await this.#writer.write(new TextEncoder().encode(`${JSON.stringify(command)}\n`));
    const next = await this.#lines.next();
    if (next.done) throw new Error(`app process ended while answering ${JSON.stringify(command)}`);
    const answer = JSON.parse(next.value);
    if (!answer.ok) {
      throw new Error(`app command ${JSON.stringify(command)} failed: ${answer.error}`);
    }
    return answer;
  }

  /** Sends a command after which the process exits on its own (crash). */
  async sendAndWaitExit(command: Record<string, unknown>): Promise<number> {
    await this.#writer.write(new TextEncoder().encode(`${JSON.stringify(command)}\n`));
    await this.#writer.close().catch(() => {});
    return (await this.#child.status).code;
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#child.status;
  }
}

function splitLines(): TransformStream<string, string> {
  let buffered = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        controller.enqueue(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
    },
  });
}
