/**
 * What walsync.toml and glob discovery cost the daemon, measured side by side in one run.
 *
 *   deno run -A bench/config_discovery.ts [--dbs 100] [--tenants 1000,5000] [--seconds 6]
 *
 * (a) Resident memory of ONE `walsync watch` over the same N databases given two ways: as
 *     paths on the command line, and as one `[[databases]]` glob in walsync.toml (which loads
 *     the TOML parser and re-lists the glob every 10 s). Steady RSS = median VmRSS over the
 *     second half of the window, sampled every 200 ms while no database changes.
 * (b) One discovery round over N tenant directories (`tenants/<i>/app.db`), in this process:
 *     the glob listing plus the check for new files (databases already known are skipped, so
 *     a round does directory listings only). Median of 5 rounds.
 */
import { resolveDatabases } from "../src/config/config_file.ts";
import { parseConfig } from "../src/config/config_file.ts";
import { silentLogger } from "../src/log.ts";
import { Discovery } from "../src/watch/discovery.ts";
import {
  machineInfo,
  makeDatabase,
  median,
  MOD_PATH,
  option,
  print,
  Proc,
  procMemoryKb,
  scratchDir,
  sleep,
  table,
} from "./harness.ts";

const dbCount = Number(option("dbs", "100"));
const tenantCounts = option("tenants", "1000,5000").split(",").map(Number);
const seconds = Number(option("seconds", "6"));

function makeTenants(root: string, count: number, template: string): string[] {
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const dir = `${root}/tenants/t${String(i).padStart(5, "0")}`;
    Deno.mkdirSync(dir, { recursive: true });
    Deno.copyFileSync(template, `${dir}/app.db`);
    paths.push(`${dir}/app.db`);
  }
  return paths;
}

async function steadyRss(args: string[], cwd: string): Promise<number> {
  const proc = new Proc(Deno.execPath(), ["run", "-A", MOD_PATH, ...args], { cwd });
  await Promise.race([
    proc.waitFor('"msg":"watching"', 600_000),
    proc.done.then((status) => {
      throw new Error(`walsync exited ${status.code}: ${proc.tail()}`);
    }),
  ]);
  const samples: number[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    samples.push(procMemoryKb(proc.pid).rssKb);
    await sleep(200);
  }
  const code = await proc.stop();
  if (code !== 0) throw new Error(`walsync exited ${code}: ${proc.tail()}`);
  return median(samples.slice(Math.floor(samples.length / 2)));
}

print(`# walsync.toml and discovery overhead\n\n${machineInfo()}\n`);

// (a) memory, flags vs config, same databases, same replica layout.
const root = scratchDir("walsync-bench-config-");
try {
  const template = `${root}/template.db`;
  makeDatabase(template, 100_000);
  const paths: string[] = [];
  Deno.mkdirSync(`${root}/dbs`);
  for (let i = 0; i < dbCount; i++) {
    paths.push(`${root}/dbs/t${String(i).padStart(5, "0")}.db`);
    Deno.copyFileSync(template, paths[i]);
  }
  const common = ["--log-format", "json", "--sync-interval", "1s"];
  const flagsKb = await steadyRss(
    ["watch", ...paths, "-b", `file://${root}/replica-flags`, ...common],
    root,
  );
  // Start the second run from scratch too (no staging state from the first).
  for (const entry of Deno.readDirSync(`${root}/dbs`)) {
    if (entry.name.endsWith("-walsync")) {
      Deno.removeSync(`${root}/dbs/${entry.name}`, { recursive: true });
    }
  }
  Deno.writeTextFileSync(
    `${root}/walsync.toml`,
    `[s3]\nbucket = "file://${root}/replica-config"\n\n[[databases]]\npath = "dbs/*.db"\n`,
  );
  const configKb = await steadyRss(["watch", ...common], root);
  print(`## (a) steady RSS of one walsync over ${dbCount} databases\n`);
  print(table(["databases given as", "steady RSS", "ratio"], [
    ["command-line paths", `${(flagsKb / 1024).toFixed(1)} MB`, "1.00"],
    [
      "walsync.toml glob (+ discovery)",
      `${(configKb / 1024).toFixed(1)} MB`,
      (configKb / flagsKb).toFixed(2),
    ],
  ]));
  print();
} finally {
  Deno.removeSync(root, { recursive: true });
}

// (b) one discovery round over many tenant directories.
print("## (b) one discovery round (glob listing + new-file check), median of 5\n");
const rows: (string | number)[][] = [];
for (const count of tenantCounts) {
  const dir = scratchDir("walsync-bench-discovery-");
  try {
    const template = `${dir}/template.db`;
    makeDatabase(template, 10_000);
    makeTenants(dir, count, template);
    const config = parseConfig(
      `[[databases]]\npath = "${dir}/tenants/*/app.db"\n`,
      `${dir}/walsync.toml`,
    );
    const discovery = new Discovery(() => resolveDatabases(config), silentLogger);
    const t0 = performance.now();
    const first = await discovery.findNew();
    const firstMs = performance.now() - t0;
    for (const database of first) discovery.markKnown(database.path);
    const rounds: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const found = await discovery.findNew();
      rounds.push(performance.now() - start);
      if (found.length !== 0) throw new Error("known databases reported again");
    }
    rows.push([
      count,
      `${firstMs.toFixed(0)} ms`,
      `${median(rounds).toFixed(0)} ms`,
      `${(median(rounds) / count * 1000).toFixed(1)} µs`,
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
print(
  table(["tenant databases", "first round (reads headers)", "later rounds", "per database"], rows),
);
