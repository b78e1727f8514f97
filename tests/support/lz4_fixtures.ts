/**
 * Access to the LZ4 fixtures in tests/testdata/lz4/ (see its README.md): the Go pierrec/lz4
 * cases, the python-lz4 frames and blocks, and real SQLite pages. Generated inputs are
 * rebuilt here rather than stored; each case records the SHA-256 of the input Go saw, so a
 * generator that drifted from the Go one fails loudly before any output is compared.
 */

import assert from "node:assert/strict";
import { Lz4Error, type Lz4ErrorCode } from "../../src/ltx/lz4_block_decoder.ts";
import { sha256Hex } from "../../src/checksum/sha256.ts";

const LZ4_TESTDATA = new URL("../testdata/lz4/", import.meta.url);
const PIERREC_DIR = new URL("pierrec/", LZ4_TESTDATA);
const PYTHON_DIR = new URL("python/", LZ4_TESTDATA);

/** Page size of tests/testdata/lz4/sqlite_pages.bin. */
export const SQLITE_PAGE_SIZE = 4096;
/** Sixteen consecutive 4 KiB pages of a SQLite table with text rows. */
export const SQLITE_PAGES: Uint8Array = Deno.readFileSync(
  new URL("sqlite_pages.bin", LZ4_TESTDATA),
);

/** Page `index` (0-based) of SQLITE_PAGES, as a copy. */
export function sqlitePage(index: number): Uint8Array {
  return SQLITE_PAGES.slice(index * SQLITE_PAGE_SIZE, (index + 1) * SQLITE_PAGE_SIZE);
}

// ---- pierrec/lz4 (Go) cases ----

/** How the Go generator built an input (mirrors `generate` in the Go program). */
export interface GenSpec {
  kind: "zero" | "fill" | "mod" | "random" | "alpha" | "text" | "runs" | "mixed";
  size: number;
  seed: number;
  period?: number;
  alphabet?: number;
  maxOffset?: number;
}

/** Bytes stored inline (hex), in a gzip file, or only as a digest. */
export interface Blob {
  hex?: string;
  file?: string;
  sha256?: string;
  length: number;
}

export interface PierrecCase {
  name: string;
  size: number;
  gen?: GenSpec;
  input?: Blob;
  inputSha256: string;
  /** `CompressBlock(src, make([]byte, CompressBlockBound(n)))`. */
  block: Blob;
  blockN: number;
  /** `n` with `len(dst) == len(src)`, as the frame writer calls it; 0 means stored raw. */
  frameModeN: number;
  /** `[len(dst), n]` pairs for other destination lengths. */
  probes: [number, number][];
  /** The frame ltx v0.5.x writes for this input. */
  frame?: Blob;
}

interface PierrecManifest {
  pierrec: string;
  cases: PierrecCase[];
}

async function gunzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function readGz(url: URL): Promise<Uint8Array> {
  return gunzip(await Deno.readFile(url));
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export { sha256Hex } from "../../src/checksum/sha256.ts";

/** Offset of the first byte where `a` and `b` differ (or the shorter length), -1 if equal. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** The stored bytes, or undefined when only a digest is stored. */
export async function blobBytes(blob: Blob): Promise<Uint8Array | undefined> {
  if (blob.hex !== undefined) return fromHex(blob.hex);
  if (blob.file !== undefined) return await readGz(new URL(blob.file, PIERREC_DIR));
  return undefined;
}

/**
 * The pierrec cases: "manifest" (189 named cases up to 300 KB) or "sweep" (every size 0..100
 * of four kinds, all stored inline).
 */
export async function loadPierrecCases(which: "manifest" | "sweep"): Promise<PierrecCase[]> {
  const text = which === "manifest"
    ? await Deno.readTextFile(new URL("manifest.json", PIERREC_DIR))
    : new TextDecoder().decode(await readGz(new URL("sweep.json.gz", PIERREC_DIR)));
  const manifest = JSON.parse(text) as PierrecManifest;
  if (manifest.pierrec !== "v4.1.22") {
    throw new Error(`Unexpected pierrec version "${manifest.pierrec}" in the ${which} fixtures`);
  }
  return manifest.cases;
}

/** The input of a case, checked against the SHA-256 of the input Go compressed. */
export async function caseInput(c: PierrecCase): Promise<Uint8Array> {
  const input = c.gen ? generateInput(c.gen) : await blobBytes(c.input!);
  if (!input || await sha256Hex(input) !== c.inputSha256) {
    throw new Error(`The input of case "${c.name}" differs from the one Go compressed`);
  }
  return input;
}

/** Mixed into the seed so that seed 0 is a valid xorshift state. */
const SEED_SALT = 0xa5a5a5a5;
const CHAR_A = 0x61;
const CHAR_SPACE = 0x20;
const CHAR_DOT = 0x2e;
const CHAR_NEWLINE = 0x0a;
const BYTE_MASK = 0xff;
/** One word in SENTENCE_EVERY ends a sentence. */
const SENTENCE_EVERY = 13;
/** Runs are 1..MAX_RUN bytes long. */
const MAX_RUN = 64;
/** Copies happen with probability (COPY_ODDS - 1) / COPY_ODDS. */
const COPY_ODDS = 3;
/** Copies are MIN_COPY .. MIN_COPY + COPY_SPREAD - 1 bytes long. */
const MIN_COPY = 4;
const COPY_SPREAD = 200;
/** Random literal stretches are 1..MAX_LITERALS bytes long. */
const MAX_LITERALS = 40;

const WORDS = (
  "the page sqlite btree cursor journal replica lease frame commit checksum transaction " +
  "index table row column value null integer text blob header free overflow leaf " +
  "interior of and to in a is"
).split(" ").map((w) => new TextEncoder().encode(w));

/** xorshift32 (13, 17, 5), unsigned, exactly as the Go generator. */
function makeRng(seed: number): () => number {
  let x = (seed ^ SEED_SALT) >>> 0;
  if (x === 0) x = 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** Rebuilds a generated input byte for byte as the Go program made it. */
export function generateInput(g: GenSpec): Uint8Array {
  const next = makeRng(g.seed);
  const out: number[] = [];
  switch (g.kind) {
    case "zero":
      return new Uint8Array(g.size);
    case "fill":
      return new Uint8Array(g.size).fill(g.seed & BYTE_MASK);
    case "mod":
      return new Uint8Array(g.size).map((_, i) => (g.seed + (i % g.period!)) & BYTE_MASK);
    case "random":
      return new Uint8Array(g.size).map(() => next() & BYTE_MASK);
    case "alpha":
      return new Uint8Array(g.size).map(() => CHAR_A + (next() % g.alphabet!));
    case "text":
      while (out.length < g.size) {
        out.push(...WORDS[next() % WORDS.length]);
        if (next() % SENTENCE_EVERY === 0) out.push(CHAR_DOT, CHAR_NEWLINE);
        else out.push(CHAR_SPACE);
      }
      break;
    case "runs":
      while (out.length < g.size) {
        const b = next() & BYTE_MASK;
        const n = 1 + (next() % MAX_RUN);
        for (let j = 0; j < n; j++) out.push(b);
      }
      break;
    case "mixed":
      while (out.length < g.size) {
        const pos = out.length;
        // Go consults the generator for the copy decision only once pos >= MIN_COPY.
        if (pos >= MIN_COPY && next() % COPY_ODDS !== 0) {
          const offset = 1 + (next() % Math.min(g.maxOffset!, pos));
          const n = MIN_COPY + (next() % COPY_SPREAD);
          for (let j = 0; j < n; j++) out.push(out[out.length - offset]);
        } else {
          const n = 1 + (next() % MAX_LITERALS);
          for (let j = 0; j < n; j++) out.push(next() & BYTE_MASK);
        }
      }
      break;
  }
  return Uint8Array.from(out.slice(0, g.size));
}

// ---- python-lz4 (liblz4) frames and blocks ----

export interface PythonManifest {
  frames: { file: string; plain?: string; sha256?: string; length?: number }[];
  blocks: { file: string; plain: string }[];
  concatenated: { file: string; first_length: number; parts: string[] }[];
}

export const PYTHON_MANIFEST: PythonManifest = JSON.parse(
  Deno.readTextFileSync(new URL("manifest.json", PYTHON_DIR)),
);

/** A file of tests/testdata/lz4/python/. */
export function pythonFixture(name: string): Uint8Array {
  return Deno.readFileSync(new URL(name, PYTHON_DIR));
}

// ---- hostile-input assertions ----

/** Runs `fn`, letting through only success or an Lz4Error that names a byte offset. */
export function onlyLz4Error(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (error) {
    if (!(error instanceof Lz4Error)) throw error;
    assert.match(error.message, /at byte \d+/);
    assert.ok(Number.isInteger(error.offset) && error.offset >= 0);
    return false;
  }
}

/** Asserts that `fn` raises an Lz4Error with `code` and returns it. */
export function assertLz4Error(fn: () => unknown, code: Lz4ErrorCode): Lz4Error {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Lz4Error, `expected Lz4Error, got ${error}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, /at byte \d+/);
    return error;
  }
  assert.fail(`expected Lz4Error ${code}, nothing thrown`);
}
