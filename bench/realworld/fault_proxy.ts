/**
 * A loopback TCP proxy that can cut the network between a replicator and its S3 server, for
 * realworld `--test network`. Up, it forwards bytes both ways unchanged (SigV4 signatures stay
 * valid). Down, it closes every open connection and accepts new ones only to close them at
 * once, as a peer that drops off the network does: requests fail with connection errors
 * until it is up again.
 */

export class FaultProxy {
  readonly port: number;
  #upstreamPort: number;
  #listener: Deno.Listener;
  #down = false;
  #open = new Set<Deno.Conn>();
  #accepting: Promise<void>;
  /** Connections closed while down: open ones when it went down, and every new one. */
  dropped = 0;

  private constructor(listener: Deno.Listener, upstreamPort: number) {
    this.#listener = listener;
    this.port = (listener.addr as Deno.NetAddr).port;
    this.#upstreamPort = upstreamPort;
    this.#accepting = this.#accept();
  }

  /** Listens on a free 127.0.0.1 port and forwards to 127.0.0.1:`upstreamPort`. */
  static start(upstreamPort: number): FaultProxy {
    return new FaultProxy(Deno.listen({ hostname: "127.0.0.1", port: 0 }), upstreamPort);
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get down(): boolean {
    return this.#down;
  }

  /** Down closes every open connection; up lets new ones through. */
  set down(value: boolean) {
    this.#down = value;
    if (!value) return;
    for (const conn of [...this.#open]) {
      this.dropped++;
      this.#close(conn);
    }
  }

  #close(conn: Deno.Conn): void {
    this.#open.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  }

  async #accept(): Promise<void> {
    for await (const conn of this.#listener) {
      if (this.#down) {
        this.dropped++;
        this.#close(conn);
        continue;
      }
      this.#forward(conn);
    }
  }

  async #forward(client: Deno.Conn): Promise<void> {
    this.#open.add(client);
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#upstreamPort });
    } catch {
      this.#close(client);
      return;
    }
    this.#open.add(upstream);
    const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        while (true) {
          const n = await from.read(buffer);
          if (n === null) break;
          let written = 0;
          while (written < n) written += await to.write(buffer.subarray(written, n));
        }
      } catch { /* closed by the other side, or cut */ }
      this.#close(from);
      this.#close(to);
    };
    await Promise.all([pipe(client, upstream), pipe(upstream, client)]);
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.#listener.close();
    for (const conn of [...this.#open]) this.#close(conn);
    await this.#accepting.catch(() => {});
  }
}
