/**
 * A loopback HTTP/1.1 proxy in front of a real S3-compatible server that injects the faults a
 * real server will not produce on demand: every request answered 500, connections refused
 * (nothing listens), requests that are read but never answered (a stall), a request applied
 * upstream whose response is cut (the socket closes without an answer, so the SDK retries
 * something that already happened), and ListObjectsV2 answered 200 with a body that is not
 * XML. Requests are forwarded byte for byte, so SigV4 signatures (which cover the Host header)
 * stay valid.
 */

export type FaultMode = "forward" | "error500" | "refuse" | "stall";

/** One request as the proxy saw it. */
export interface ProxiedRequest {
  method: string;
  /** Path without the query, e.g. "/bucket/prefix/.walsync-lease.json". */
  path: string;
  query: URLSearchParams;
  headers: Headers;
}

/** What happened to one request. */
export interface ProxyLogEntry extends ProxiedRequest {
  action: "forwarded" | "error500" | "stalled" | "cut" | "garbage";
  /** The upstream status (forwarded and cut requests). */
  status?: number;
}

interface Rule {
  matches: (request: ProxiedRequest) => boolean;
  remaining: number;
  body?: string;
}

const CRLF_CRLF = new Uint8Array([13, 10, 13, 10]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class S3FaultProxy {
  readonly port: number;
  readonly log: ProxyLogEntry[] = [];
  #upstream: { hostname: string; port: number };
  #listener: Deno.Listener | null = null;
  #mode: FaultMode = "forward";
  #connections = new Set<Deno.Conn>();
  #cuts: Rule[] = [];
  #garbage: Rule[] = [];
  #failures: Rule[] = [];
  #closed = false;

  private constructor(upstream: URL, port: number) {
    this.#upstream = { hostname: upstream.hostname, port: Number(upstream.port) };
    this.port = port;
  }

  /** Starts a proxy for `upstream` (e.g. "http://127.0.0.1:8333") on a free loopback port. */
  static start(upstream: string): S3FaultProxy {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const proxy = new S3FaultProxy(new URL(upstream), (listener.addr as Deno.NetAddr).port);
    proxy.#accept(listener);
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  /**
   * "refuse" stops listening and drops every open connection; the other modes listen again
   * (on the same port). Every change drops open connections, so a keep-alive socket cannot
   * carry a request past the change, and stalled requests end when the stall does.
   */
  setMode(mode: FaultMode): void {
    if (mode === this.#mode) return;
    this.#mode = mode;
    {
      for (const conn of this.#connections) closeQuietly(conn);
      this.#connections.clear();
    }
    if (mode === "refuse") {
      if (this.#listener) closeQuietly(this.#listener);
      this.#listener = null;
    } else if (!this.#listener && !this.#closed) {
      this.#accept(Deno.listen({ hostname: "127.0.0.1", port: this.port }));
    }
  }

  /** The next `count` requests matching `matches` are applied upstream, then cut unanswered. */
  cutResponses(matches: (request: ProxiedRequest) => boolean, count = 1): void {
    this.#cuts.push({ matches, remaining: count });
  }

  /** The next `count` ListObjectsV2 requests get a 200 whose body is `body` (not a listing). */
  garbageLists(count: number, body = "garbage <<<>>> not a listing"): void {
    this.#garbage.push({ matches: isListObjectsV2, remaining: count, body });
  }

  /**
   * The next `count` requests matching `matches` are answered 500 without reaching the server
   * (one kind of request fails while the others work); `count` 0 clears every such rule.
   */
  failRequests(matches: (request: ProxiedRequest) => boolean, count: number): void {
    if (count === 0) this.#failures = [];
    else this.#failures.push({ matches, remaining: count });
  }

  /** Requests that got `action`, optionally only those matching `matches`. */
  count(action: ProxyLogEntry["action"], matches?: (entry: ProxyLogEntry) => boolean): number {
    return this.log.filter((entry) => entry.action === action && (matches?.(entry) ?? true))
      .length;
  }

  close(): void {
    this.#closed = true;
    if (this.#listener) closeQuietly(this.#listener);
    this.#listener = null;
    for (const conn of this.#connections) closeQuietly(conn);
    this.#connections.clear();
  }

  #accept(listener: Deno.Listener): void {
    this.#listener = listener;
    (async () => {
      for await (const conn of listener) {
        this.#connections.add(conn);
        this.#serve(conn).catch(() => {}).finally(() => {
          this.#connections.delete(conn);
          closeQuietly(conn);
        });
      }
    })().catch(() => {});
  }

  /** Requests on one client connection, in order, each forwarded on one upstream connection. */
  async #serve(conn: Deno.Conn): Promise<void> {
    const client = new Reader(conn);
    let upstream: { conn: Deno.Conn; reader: Reader } | null = null;
    try {
      while (true) {
        const head = await client.readUntil(CRLF_CRLF);
        if (head === null) return;
        const request = parseRequestHead(head);
        if (this.#mode === "stall") {
          this.log.push({ ...request.info, action: "stalled" });
          await client.readAll(); // until the proxy (or the client) drops the connection
          return;
        }
        if (request.expectContinue) {
          await conn.write(encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
        }
        const body = await readBody(client, request.headers, false);
        if (this.#mode === "error500") {
          this.log.push({ ...request.info, action: "error500" });
          await writeAll(conn, errorResponse(500, "InternalError", "injected by S3FaultProxy"));
          return;
        }
        if (takeRule(this.#failures, request.info)) {
          this.log.push({ ...request.info, action: "error500" });
          await writeAll(conn, errorResponse(500, "InternalError", "injected by S3FaultProxy"));
          return;
        }
        const garbage = takeRule(this.#garbage, request.info);
        if (garbage) {
          this.log.push({ ...request.info, action: "garbage" });
          await writeAll(conn, garbageResponse(garbage.body ?? ""));
          continue;
        }
        upstream ??= await this.#connectUpstream();
        await writeAll(upstream.conn, concat([request.forwardedHead, body]));
        const response = await readResponse(upstream.reader, request.info.method);
        if (response.close) {
          closeQuietly(upstream.conn);
          upstream = null;
        }
        if (takeRule(this.#cuts, request.info)) {
          // Applied upstream; the client never hears of it.
          this.log.push({ ...request.info, action: "cut", status: response.status });
          return;
        }
        this.log.push({ ...request.info, action: "forwarded", status: response.status });
        await writeAll(conn, response.raw);
        if (response.close || request.close) return;
      }
    } finally {
      if (upstream) closeQuietly(upstream.conn);
    }
  }

  async #connectUpstream(): Promise<{ conn: Deno.Conn; reader: Reader }> {
    const conn = await Deno.connect({ ...this.#upstream, transport: "tcp" });
    return { conn, reader: new Reader(conn) };
  }
}

function isListObjectsV2(request: ProxiedRequest): boolean {
  return request.method === "GET" && request.query.get("list-type") === "2";
}

function takeRule(rules: Rule[], request: ProxiedRequest): Rule | null {
  const rule = rules.find((r) => r.remaining > 0 && r.matches(request));
  if (!rule) return null;
  rule.remaining--;
  return rule;
}

interface ParsedRequest {
  info: ProxiedRequest;
  headers: Headers;
  /** The head to send upstream (without Expect, which the proxy answers itself). */
  forwardedHead: Uint8Array;
  expectContinue: boolean;
  close: boolean;
}

function parseRequestHead(head: Uint8Array): ParsedRequest {
  const lines = decoder.decode(head).split("\r\n").filter((line) => line !== "");
  const [method, target] = lines[0].split(" ");
  const headers = new Headers();
  const kept = [lines[0]];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim();
    headers.append(name, line.slice(colon + 1).trim());
    // Expect is never signed (SigV4 leaves it out), so dropping it keeps the signature valid.
    if (name.toLowerCase() !== "expect") kept.push(line);
  }
  const url = new URL(target, "http://proxy");
  return {
    info: { method, path: decodeURIComponent(url.pathname), query: url.searchParams, headers },
    headers,
    forwardedHead: encoder.encode(`${kept.join("\r\n")}\r\n\r\n`),
    expectContinue: headers.get("expect")?.toLowerCase() === "100-continue",
    close: headers.get("connection")?.toLowerCase() === "close",
  };
}

/** Reads a message body as framed by its headers; returns its raw bytes (chunks included). */
async function readBody(
  reader: Reader,
  headers: Headers,
  untilClose: boolean,
): Promise<Uint8Array> {
  const length = headers.get("content-length");
  if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
    const parts: Uint8Array[] = [];
    while (true) {
      const sizeLine = await reader.readUntil(new Uint8Array([13, 10]));
      if (sizeLine === null) throw new Error("connection closed inside a chunked body");
      parts.push(sizeLine);
      const size = parseInt(decoder.decode(sizeLine).split(";")[0].trim(), 16);
      if (size === 0) {
        // Trailers, then the empty line.
        while (true) {
          const line = await reader.readUntil(new Uint8Array([13, 10]));
          if (line === null) throw new Error("connection closed inside chunk trailers");
          parts.push(line);
          if (line.length === 2) return concat(parts);
        }
      }
      parts.push(await reader.readExact(size + 2));
    }
  }
  if (length !== null) return await reader.readExact(Number(length));
  return untilClose ? await reader.readAll() : new Uint8Array();
}

async function readResponse(
  reader: Reader,
  method: string,
): Promise<{ status: number; raw: Uint8Array; close: boolean }> {
  while (true) {
    const head = await reader.readUntil(CRLF_CRLF);
    if (head === null) throw new Error("upstream closed without answering");
    const lines = decoder.decode(head).split("\r\n").filter((line) => line !== "");
    const status = Number(lines[0].split(" ")[1]);
    if (status === 100) continue; // an interim answer: the real one follows
    const headers = new Headers();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const bodyless = method === "HEAD" || status === 204 || status === 304;
    const framed = headers.has("content-length") || headers.has("transfer-encoding");
    const body = bodyless ? new Uint8Array() : await readBody(reader, headers, !framed);
    const close = headers.get("connection")?.toLowerCase() === "close" || (!bodyless && !framed);
    return { status, raw: concat([head, body]), close };
  }
}

function errorResponse(status: number, code: string, message: string): Uint8Array {
  const body =
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  return encoder.encode(
    `HTTP/1.1 ${status} Injected\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function garbageResponse(body: string): Uint8Array {
  return encoder.encode(
    `HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch { /* already closed */ }
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Buffered reads from a connection: up to a delimiter, an exact count, or the end. */
class Reader {
  #conn: Deno.Conn;
  #buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #chunk = new Uint8Array(64 * 1024);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Bytes up to and including `delimiter`, or null if the connection ends first. */
  async readUntil(delimiter: Uint8Array): Promise<Uint8Array | null> {
    let searchFrom = 0;
    while (true) {
      const at = indexOf(this.#buffer, delimiter, searchFrom);
      if (at >= 0) return this.#take(at + delimiter.length);
      searchFrom = Math.max(0, this.#buffer.length - delimiter.length + 1);
      if (!(await this.#fill())) return null;
    }
  }

  async readExact(count: number): Promise<Uint8Array> {
    while (this.#buffer.length < count) {
      if (!(await this.#fill())) throw new Error("connection closed inside a body");
    }
    return this.#take(count);
  }

  async readAll(): Promise<Uint8Array> {
    while (await this.#fill()) { /* until the end */ }
    return this.#take(this.#buffer.length);
  }

  async #fill(): Promise<boolean> {
    let n: number | null;
    try {
      n = await this.#conn.read(this.#chunk);
    } catch {
      return false; // reset or closed by the proxy
    }
    if (n === null) return false;
    this.#buffer = concat([this.#buffer, this.#chunk.subarray(0, n)]);
    return true;
  }

  #take(count: number): Uint8Array {
    const out = this.#buffer.slice(0, count);
    this.#buffer = this.#buffer.slice(count);
    return out;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
