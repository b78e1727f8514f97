/**
 * Faults a real server will not produce on demand: an endpoint nobody listens on, 5xx and
 * throttling answers, downloads that break off mid-body. Small loopback fakes play the
 * server; everything on the client side is the real SDK and the real S3 replica client.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readAll } from "../../src/replica/replica_client.ts";
import { S3ReplicaError, S3UnreachableError } from "../../src/replica/s3/s3_errors.ts";
import { S3ReplicaClient } from "../../src/replica/s3/s3_replica_client.ts";
import { freePort } from "../support/s3_server.ts";
import { rejection } from "../support/rejection.ts";

const meta = {
  sha256: "ab".repeat(32),
  databaseChecksum: 1n,
  createdAt: new Date(1_700_000_000_000),
};
const KEY = { level: 0, minTxid: 1, maxTxid: 1 };

function clientFor(
  endpoint: string,
  options: { maxAttempts?: number; readResumes?: number } = {},
): S3ReplicaClient {
  return new S3ReplicaClient({
    bucket: "bucket",
    prefix: "p",
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "fake", secretAccessKey: "fake-secret" },
    maxAttempts: options.maxAttempts ?? 3,
    readResumes: options.readResumes,
    env: () => undefined,
  });
}

const s3Error = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

/** A fake S3 endpoint answering with `respond`; records every request. */
function fakeServer(
  respond: (request: Request, body: Uint8Array, index: number) => Response,
) {
  const requests: { method: string; url: string; headers: Headers; body: Uint8Array }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = new Uint8Array(await request.arrayBuffer());
    requests.push({ method: request.method, url: request.url, headers: request.headers, body });
    return respond(request, body, requests.length - 1);
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });

test("s3 replica: an unreachable endpoint fails after a bounded number of attempts", async () => {
  const port = freePort(); // closed again: nothing listens there
  const client = clientFor(`http://127.0.0.1:${port}`, { maxAttempts: 3 });
  try {
    const error = await rejection(() => client.writeFile("app.db", KEY, new Uint8Array([1]), meta));
    assert.ok(error instanceof S3UnreachableError, String(error));
    assert.match(
      error.message,
      /^Cannot reach http:\/\/127\.0\.0\.1:\d+ for S3 PutObject of "p\/app.db\/0000\/0000000000000001-0000000000000001.ltx" in bucket "bucket" \(ECONNREFUSED\) after 3 attempts; check the endpoint/,
    );
    assert.equal(client.requestCounts.get("PutObject"), 3);
  } finally {
    await client.close();
  }
});

test("s3 replica: 503 SlowDown and 500 answers are retried until the write goes through", async () => {
  const fake = fakeServer((_request, _body, index) => {
    if (index === 0) return new Response(s3Error("SlowDown", "Reduce your rate"), { status: 503 });
    if (index === 1) return new Response(s3Error("InternalError", "Oops"), { status: 500 });
    return new Response(null, { status: 200, headers: { etag: '"abc"' } });
  });
  const client = clientFor(fake.endpoint, { maxAttempts: 3 });
  try {
    const info = await client.writeFile("app.db", KEY, new Uint8Array([1, 2, 3]), meta);
    assert.equal(info.sizeBytes, 3);
    assert.equal(fake.requests.length, 3);
    assert.ok(fake.requests.every((r) => r.body.length === 3), "every attempt sends the body");
  } finally {
    await client.close();
    await fake.close();
  }
});

test("s3 replica: a server that keeps failing gives a clear error after the attempt budget", async () => {
  const fake = fakeServer(() =>
    new Response(s3Error("InternalError", "We encountered an internal error"), { status: 500 })
  );
  const client = clientFor(fake.endpoint, { maxAttempts: 3 });
  try {
    const error = await rejection(() => client.listFiles("app.db", 0));
    assert.ok(error instanceof S3ReplicaError);
    assert.match(
      error.message,
      /^S3 ListObjectsV2 of "p\/app.db\/0000\/" in bucket "bucket" failed \(500 InternalError\) after 3 attempts/,
    );
    assert.equal(fake.requests.length, 3);
  } finally {
    await client.close();
    await fake.close();
  }
});

test("s3 replica: DeleteObjects carries Content-MD5 for stores that require it", async () => {
  const fake = fakeServer(() =>
    new Response(`<?xml version="1.0" encoding="UTF-8"?><DeleteResult></DeleteResult>`, {
      headers: { "content-type": "application/xml" },
    })
  );
  const client = clientFor(fake.endpoint);
  try {
    await client.deleteFiles("app.db", [KEY, { level: 0, minTxid: 2, maxTxid: 2 }]);
    const [request] = fake.requests;
    assert.equal(request.method, "POST");
    assert.match(request.url, /\/bucket\/?\?delete/);
    const md5 = createHash("md5").update(request.body).digest("base64");
    assert.equal(request.headers.get("content-md5"), md5);
    assert.match(new TextDecoder().decode(request.body), /0000000000000002-0000000000000002/);
  } finally {
    await client.close();
    await fake.close();
  }
});

test("s3 replica: requests carry no aws-chunked bodies or checksum trailers", async () => {
  const fake = fakeServer(() => new Response(null, { headers: { etag: '"abc"' } }));
  const client = clientFor(fake.endpoint);
  try {
    await client.writeFile("app.db", KEY, new Uint8Array([1, 2, 3]), meta);
    const [request] = fake.requests;
    assert.equal(request.headers.get("content-encoding"), null);
    assert.equal(request.headers.get("x-amz-trailer"), null);
    assert.equal(request.headers.get("content-length"), "3");
    assert.deepEqual(request.body, new Uint8Array([1, 2, 3]));
  } finally {
    await client.close();
    await fake.close();
  }
});

/**
 * A raw HTTP server whose GET responses announce the whole remaining range but, while
 * `breaks` lasts, send only `cut` bytes of it and drop the connection.
 */
function breakingServer(object: Uint8Array, options: { cut: number; breaks: number }) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ranges: (string | null)[] = [];
  let breaks = options.breaks;
  const serve = async (conn: Deno.Conn) => {
    try {
      const buffer = new Uint8Array(64 * 1024);
      let text = "";
      while (!text.includes("\r\n\r\n")) {
        const n = await conn.read(buffer);
        if (n === null) return;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      const range = /\r\nrange: bytes=(\d+)-(\d*)\r\n/i.exec(text);
      ranges.push(range ? `${range[1]}-${range[2]}` : null);
      const start = range ? Number(range[1]) : 0;
      const end = range && range[2] !== "" ? Number(range[2]) + 1 : object.length;
      const body = object.subarray(start, end);
      const head = [
        range ? "HTTP/1.1 206 Partial Content" : "HTTP/1.1 200 OK",
        `Content-Length: ${body.length}`,
        ...(range ? [`Content-Range: bytes ${start}-${end - 1}/${object.length}`] : []),
        'ETag: "v1"',
        "Content-Type: application/octet-stream",
        "Connection: close",
        "",
        "",
      ].join("\r\n");
      await conn.write(new TextEncoder().encode(head));
      const send = breaks-- > 0 ? body.subarray(0, options.cut) : body;
      for (let at = 0; at < send.length;) at += await conn.write(send.subarray(at));
    } finally {
      conn.close();
    }
  };
  (async () => {
    for await (const conn of listener) serve(conn).catch(() => {});
  })().catch(() => {});
  return {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    ranges,
    close: () => listener.close(),
  };
}

test("s3 replica: a download that breaks off mid-body resumes where it stopped", async () => {
  const object = Uint8Array.from({ length: 200_000 }, (_, i) => i % 253);
  const fake = breakingServer(object, { cut: 70_000, breaks: 2 });
  const client = clientFor(fake.endpoint);
  try {
    const whole = await readAll(await client.openFile("app.db", KEY));
    assert.deepEqual(whole, object);
    assert.deepEqual(fake.ranges, [null, "70000-", "140000-"]);
  } finally {
    await client.close();
    fake.close();
  }
});

test("s3 replica: a ranged download that breaks off resumes within its range", async () => {
  const object = Uint8Array.from({ length: 200_000 }, (_, i) => i % 253);
  const fake = breakingServer(object, { cut: 1_000, breaks: 1 });
  const client = clientFor(fake.endpoint);
  try {
    const part = await readAll(
      await client.openFile("app.db", KEY, { offset: 10_000, length: 5_000 }),
    );
    assert.deepEqual(part, object.subarray(10_000, 15_000));
    assert.deepEqual(fake.ranges, ["10000-14999", "11000-14999"]);
  } finally {
    await client.close();
    fake.close();
  }
});

test("s3 replica: an object that keeps arriving truncated fails naming its key", async () => {
  const object = new Uint8Array(100_000);
  const fake = breakingServer(object, { cut: 10, breaks: 1000 });
  const client = clientFor(fake.endpoint, { readResumes: 2 });
  try {
    const stream = await client.openFile("app.db", KEY);
    await assert.rejects(
      () => readAll(stream),
      /"p\/app.db\/0000\/0000000000000001-0000000000000001.ltx"/,
    );
    assert.equal(fake.ranges.length, 3, "the first request and two resumes");
  } finally {
    await client.close();
    fake.close();
  }
});

test("s3 replica: the AWS SDK is loaded on the first request, not when the URL is opened", async () => {
  // A child process whose import map points the SDK at a module that fails on load.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/poison.js`, 'throw new Error("AWS SDK loaded");\n');
    await Deno.writeTextFile(
      `${dir}/import_map.json`,
      JSON.stringify({
        imports: {
          "@aws-sdk/client-s3": `${dir}/poison.js`,
          "@aws-sdk/lib-storage": `${dir}/poison.js`,
        },
      }),
    );
    const url = new URL("../../src/replica/replica_url.ts", import.meta.url).href;
    const script = `
      const { openReplicaUrl } = await import(${JSON.stringify(url)});
      const client = await openReplicaUrl("s3://bucket/prefix?endpoint=http://127.0.0.1:1");
      console.log("opened", client.kind, client.location);
      await client.listDatabases().catch((e) => console.log("first request:", e.message));
    `;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", `--import-map=${dir}/import_map.json`, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.match(
      stdout,
      /^opened s3 s3:\/\/bucket\/prefix\n/,
      new TextDecoder().decode(output.stderr),
    );
    assert.match(stdout, /first request: AWS SDK loaded/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
