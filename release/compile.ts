/**
 * Builds one walsync executable with `deno compile`: the release workflow runs it once per
 * target, and `deno task compile` runs it for this machine. It writes the commit and target
 * into `src/build_info.ts` for `walsync version`, compiles with exactly `PERMISSION_FLAGS` and
 * `V8_FLAGS`, and puts `src/build_info.ts` back afterwards.
 *
 *   deno run -A release/compile.ts [--target T] [--commit SHA] [--tag vX.Y.Z] [--output PATH]
 *
 * `--tag` must name this version (`v` + src/version.ts), so a tag cannot ship another number.
 * `deno compile` downloads Deno's `denort` runtime for the target from dl.deno.land.
 */
import { parseArgs } from "node:util";
import { VERSION } from "../src/version.ts";
import { PERMISSION_FLAGS, RELEASE_TARGETS, V8_FLAGS } from "./permissions.ts";

const BUILD_INFO = new URL("../src/build_info.ts", import.meta.url);
const MOD = new URL("../mod.ts", import.meta.url);

/** The `deno compile` arguments for one target (undefined: this machine). */
export function compileArgs(options: { target?: string; output: string }): string[] {
  const target = options.target === undefined ? [] : ["--target", options.target];
  return [
    "compile",
    ...PERMISSION_FLAGS,
    V8_FLAGS,
    ...target,
    "--output",
    options.output,
    "mod.ts",
  ];
}

/** The text of `src/build_info.ts` for a build of `commit` for `target`. */
export function buildInfoSource(commit: string, target: string): string {
  return `/**
 * What \`walsync version\` says about the build. Written by release/compile.ts for this build.
 */

/** The git commit the binary was built from ("unknown" when run from a checkout). */
export const BUILD_COMMIT: string = ${JSON.stringify(commit)};
/** The \`deno compile --target\` of the binary, or "source" when run with \`deno run\`. */
export const BUILD_TARGET: string = ${JSON.stringify(target)};
`;
}

/** Checks a release tag against the version; returns an error message or null. */
export function tagProblem(tag: string): string | null {
  return tag === `v${VERSION}`
    ? null
    : `Tag "${tag}" does not name this version ${VERSION}; tag v${VERSION} or change src/version.ts and deno.json`;
}

function printErr(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`compile: ${line}\n`));
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      target: { type: "string" },
      commit: { type: "string" },
      tag: { type: "string" },
      output: { type: "string" },
    },
    strict: true,
  });
  if (values.target !== undefined && !RELEASE_TARGETS.includes(values.target)) {
    printErr(`Unknown target "${values.target}"; one of ${RELEASE_TARGETS.join(", ")}`);
    return 2;
  }
  if (values.tag !== undefined) {
    const problem = tagProblem(values.tag);
    if (problem) {
      printErr(problem);
      return 2;
    }
  }
  const commit = values.commit ?? "unknown";
  const target = values.target ?? `${Deno.build.arch}-${Deno.build.os} (local build)`;
  const output = values.output ?? "dist/walsync";
  const original = await Deno.readTextFile(BUILD_INFO);
  await Deno.writeTextFile(BUILD_INFO, buildInfoSource(commit, target));
  try {
    const args = compileArgs({ target: values.target, output });
    printErr(`deno ${args.join(" ")}`);
    const child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: new URL(".", MOD).pathname,
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    return (await child.status).code;
  } finally {
    await Deno.writeTextFile(BUILD_INFO, original);
  }
}

if (import.meta.main) Deno.exit(await main());
