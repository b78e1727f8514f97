import assert from "node:assert/strict";
import { FaultProxy } from "./fault_proxy.ts";

/** An echo server on loopback that answers each read with the same bytes. */
function echoServer(): { port: number; close: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const buffer = new Uint8Array(1024);
        try {
          while (true) {
            const n = await conn.read(buffer);
            if (n === null) break;
            await conn.write(buffer.subarray(0, n));
          }
        } catch { /* closed */ }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* already closed */ }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: async () => {
      listener.close();
      for (const conn of conns) conn.close();
      await serving.catch(() => {});
    },
  };
}

async function roundTrip(conn: Deno.Conn, text: string): Promise<string | null> {
  await conn.write(new TextEncoder().encode(text));
  const buffer = new Uint8Array(1024);
  try {
    const n = await conn.read(buffer);
    return n === null ? null : new TextDecoder().decode(buffer.subarray(0, n));
  } catch {
    return null; // reset
  }
}

Deno.test("FaultProxy forwards while up, drops every connection while down, forwards again", async () => {
  const server = echoServer();
  const proxy = FaultProxy.start(server.port);
  try {
    const before = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    assert.equal(await roundTrip(before, "hello"), "hello");

    proxy.down = true;
    // The open connection is cut, and a new one is closed on arrival.
    assert.equal(await roundTrip(before, "lost"), null);
    const during = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    assert.equal(await roundTrip(during, "lost"), null);
    assert.equal(proxy.dropped >= 2, true, `dropped ${proxy.dropped}`);
    before.close();
    during.close();

    proxy.down = false;
    const after = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    assert.equal(await roundTrip(after, "back"), "back");
    after.close();
  } finally {
    await proxy.close();
    await server.close();
  }
});
