/**
 * The release workflow cannot run here (`deno compile` downloads its runtime), so its shape is
 * checked instead: the five targets are compiled and each is smoke-tested on a runner of its own
 * OS and architecture, every compile goes through release/compile.ts (so release/permissions.ts
 * is the one permission list), and every action is pinned to a commit.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { buildInfoSource, compileArgs, tagProblem } from "../release/compile.ts";
import { PERMISSION_FLAGS, RELEASE_TARGETS, V8_FLAGS } from "../release/permissions.ts";
import { platformRefusal } from "../src/cli/platform.ts";
import { VERSION } from "../src/version.ts";

const ROOT = new URL("../", import.meta.url);
const WORKFLOWS = new URL(".github/workflows/", ROOT);

interface Step {
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  "runs-on": string;
  if?: string;
  permissions?: Record<string, string>;
  strategy?: { matrix: Record<string, unknown> };
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

function readWorkflow(name: string): Workflow {
  return parse(Deno.readTextFileSync(new URL(name, WORKFLOWS))) as Workflow;
}

const release = readWorkflow("release.yml");

/** What each GitHub-hosted runner label used for smoke tests runs on. */
const RUNNERS: Record<string, { os: string; arch: string }> = {
  "ubuntu-latest": { os: "linux", arch: "x86_64" },
  "ubuntu-24.04": { os: "linux", arch: "x86_64" },
  "ubuntu-24.04-arm": { os: "linux", arch: "aarch64" },
  "ubuntu-22.04-arm": { os: "linux", arch: "aarch64" },
  "macos-15-intel": { os: "darwin", arch: "x86_64" },
  "macos-13": { os: "darwin", arch: "x86_64" },
  "macos-latest": { os: "darwin", arch: "aarch64" },
  "macos-15": { os: "darwin", arch: "aarch64" },
  "windows-latest": { os: "windows", arch: "x86_64" },
  "windows-2025": { os: "windows", arch: "x86_64" },
};

/** The OS and architecture of a `deno compile --target` name. */
function targetPlatform(target: string): { os: string; arch: string } {
  const arch = target.split("-")[0];
  const os = target.includes("linux")
    ? "linux"
    : target.includes("apple-darwin")
    ? "darwin"
    : target.includes("windows")
    ? "windows"
    : "unknown";
  return { os, arch };
}

function runs(job: Job): string {
  return job.steps.map((s) => s.run ?? "").join("\n");
}

Deno.test("the release workflow runs on v* tags and by hand", () => {
  assert.deepEqual(Object.keys(release.on).sort(), ["push", "workflow_dispatch"]);
  assert.deepEqual((release.on.push as { tags: string[] }).tags, ["v*"]);
});

Deno.test("the release workflow runs .ci/run on Linux before compiling", () => {
  const test = release.jobs.test;
  assert.equal(test["runs-on"], "ubuntu-latest");
  assert.match(runs(test), /^\.ci\/run$/m);
  assert.equal(release.jobs.compile.needs, "test");
});

Deno.test("the compile matrix covers exactly the five release targets", () => {
  const targets = release.jobs.compile.strategy!.matrix.target as string[];
  assert.deepEqual([...targets].sort(), [...RELEASE_TARGETS].sort());
  assert.equal(new Set(targets).size, targets.length, "no target twice");
  assert.deepEqual([...RELEASE_TARGETS].sort(), [
    "aarch64-apple-darwin",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "x86_64-pc-windows-msvc",
    "x86_64-unknown-linux-gnu",
  ]);
});

Deno.test("every workflow compiles through release/compile.ts, never deno compile directly", () => {
  for (const entry of Deno.readDirSync(WORKFLOWS)) {
    for (const [name, job] of Object.entries(readWorkflow(entry.name).jobs)) {
      assert.doesNotMatch(runs(job), /deno compile/, `${entry.name} ${name} runs deno compile`);
    }
  }
  const compile = release.jobs.compile;
  assert.match(runs(compile), /deno run -A release\/compile\.ts /);
  assert.match(runs(compile), /--target "\$\{TARGET\}"/);
  assert.match(runs(compile), /--commit "\$\{COMMIT\}"/);
  const env = compile.steps.find((s) => s.run?.includes("release/compile.ts"))!.env!;
  assert.equal(env.TARGET, "${{ matrix.target }}");
  assert.equal(env.COMMIT, "${{ github.sha }}");
  const ci = readWorkflow("ci.yml");
  for (const job of Object.values(ci.jobs)) {
    if (/deno (task )?compile|release\/compile\.ts/.test(runs(job))) {
      assert.match(runs(job), /release\/compile\.ts/);
    }
  }
});

Deno.test("release/compile.ts passes exactly the permission list and the V8 flags, never -A", () => {
  const args = compileArgs({ target: "aarch64-apple-darwin", output: "dist/x/walsync" });
  const allows = args.filter((a) => a.startsWith("--allow-") || a === "-A");
  assert.deepEqual(allows, [...PERMISSION_FLAGS]);
  assert.ok(args.includes(V8_FLAGS));
  assert.deepEqual(args.slice(-5), [
    "--target",
    "aarch64-apple-darwin",
    "--output",
    "dist/x/walsync",
    "mod.ts",
  ]);
  assert.equal(args[0], "compile");
  assert.equal(args.at(-1), "mod.ts");
  // The same V8 flags as `deno task walsync`.
  const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  assert.ok((config.tasks.walsync as string).includes(V8_FLAGS));
  assert.match(config.tasks.compile, /release\/compile\.ts/);
});

Deno.test("every release target is smoke-tested on a runner of its own OS and architecture", () => {
  const smoke = release.jobs.smoke;
  assert.equal(smoke.needs, "compile");
  assert.equal(smoke["runs-on"], "${{ matrix.runner }}");
  const include = smoke.strategy!.matrix.include as {
    target: string;
    runner: string;
    mode: string;
  }[];
  assert.deepEqual(include.map((e) => e.target).sort(), [...RELEASE_TARGETS].sort());
  for (const entry of include) {
    const runner = RUNNERS[entry.runner];
    assert.ok(runner, `unknown runner "${entry.runner}" for ${entry.target}`);
    assert.deepEqual(runner, targetPlatform(entry.target), `${entry.target} on ${entry.runner}`);
    // Windows runs what walsync ships there; elsewhere the whole round trip.
    const windows = runner.os === "windows";
    assert.equal(entry.mode, windows ? "windows" : "full", entry.target);
  }
  assert.match(runs(smoke), /release\/smoke\.sh "\$\{MODE\}" "\$\{binary\}"/);
  const env = smoke.steps.find((s) => s.run?.includes("release/smoke.sh"))!.env!;
  assert.equal(env.EXPECT_COMMIT, "${{ github.sha }}");
  assert.equal(env.EXPECT_TARGET, "${{ matrix.target }}");
});

Deno.test("release/smoke.sh covers version, watch --once, restore and verify, and Windows' refusals", () => {
  const script = Deno.readTextFileSync(new URL("release/smoke.sh", ROOT));
  const full = script.slice(script.indexOf("\nfull)"), script.indexOf("\nwindows)"));
  const windows = script.slice(script.indexOf("\nwindows)"));
  assert.match(script, /walsync version/);
  for (const command of ["watch --once", "restore", "verify", "list", "snapshot", "explain"]) {
    assert.match(full, new RegExp(`walsync ${command} `), `full: ${command}`);
  }
  for (const command of ["restore", "verify", "list", "explain"]) {
    assert.match(windows, new RegExp(`walsync ${command} `), `windows: ${command}`);
    assert.equal(platformRefusal(command, "windows"), null);
  }
  // The commands smoke.sh expects to refuse are exactly the ones walsync refuses.
  assert.match(windows, /for command in watch snapshot; do/);
  for (const command of ["watch", "snapshot"]) assert.ok(platformRefusal(command, "windows"));
});

Deno.test("the release job writes SHA256SUMS and publishes only for a tag", () => {
  const job = release.jobs.release;
  assert.equal(job.needs, "smoke");
  assert.equal(job.permissions?.contents, "write");
  assert.match(runs(job), /sha256sum walsync-\* > SHA256SUMS/);
  const publish = job.steps.find((s) => s.run?.includes("gh release create"))!;
  assert.equal(publish.if, "github.ref_type == 'tag'");
  // Only the release job may write to the repository.
  assert.deepEqual(release.permissions, {
    contents: "read",
  });
});

Deno.test("every action in every workflow is pinned to a full commit", () => {
  for (const entry of Deno.readDirSync(WORKFLOWS)) {
    const workflow = readWorkflow(entry.name);
    for (const [name, job] of Object.entries(workflow.jobs)) {
      for (const step of job.steps) {
        if (step.uses === undefined) continue;
        assert.match(
          step.uses,
          /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/,
          `${entry.name} ${name}: ${step.uses}`,
        );
      }
    }
  }
});

Deno.test("compile.ts refuses a tag that does not name this version", () => {
  assert.equal(tagProblem(`v${VERSION}`), null);
  assert.match(tagProblem("v9.9.9")!, /Tag "v9\.9\.9" does not name this version/);
  assert.match(tagProblem(VERSION)!, /does not name this version/);
});

Deno.test("the build info compile.ts writes is a module with the commit and target", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/build_info.ts`;
    await Deno.writeTextFile(path, buildInfoSource('0123abc"', "x86_64-apple-darwin"));
    const info = await import(`file://${path}`);
    assert.equal(info.BUILD_COMMIT, '0123abc"');
    assert.equal(info.BUILD_TARGET, "x86_64-apple-darwin");
    // The checkout's own file keeps the defaults (compile.ts puts it back after a build).
    const own = await import("../src/build_info.ts");
    assert.equal(own.BUILD_COMMIT, "unknown");
    assert.equal(own.BUILD_TARGET, "source");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CI on Windows runs deno task ok's checks and leaves out only the files that run watch or snapshot", () => {
  const others = readWorkflow("ci.yml").jobs.others;
  const windows = others.steps.find((s) => s.if === "runner.os == 'Windows'")!;
  const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  const checks = (config.tasks.ok as string).replace(/ && deno test -A$/, "");
  assert.ok(windows.run!.includes(`${checks} && deno test -A --ignore="\${skip}"`));
  assert.match(windows.run!, /grep -l -E '"watch"\|"snapshot"\|WalsyncProcess\|watch_fixture'/);
  const elsewhere = others.steps.find((s) => s.if === "runner.os != 'Windows'")!;
  assert.equal(elsewhere.run, "deno task ok");
});
