/**
 * The CLI entry: dispatches a subcommand and is the only place that turns errors into exit
 * codes (0 ok, 1 runtime failure, 2 usage or configuration error).
 */
import { UsageError, WalsyncError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { BUILD_COMMIT, BUILD_TARGET } from "../build_info.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit_codes.ts";
import { writeErr, writeOut } from "./output.ts";
import { type OsName, platformRefusal } from "./platform.ts";

const USAGE = `walsync ${VERSION} — continuous WAL replication for many SQLite databases

Usage: walsync <command> [options]

Commands:
  watch          Replicate databases continuously (the daemon)
  restore        Rebuild a database from its replica, verified
  snapshot       Take a full snapshot of one database now
  status         Ask the running daemon how each database stands (TXIDs, lag, errors)
  list           List the databases in a replica
  verify         Check every object of a database's replica and a full restore
  compact        Compaction and retention on a replica now (dry run unless --force)
  explain        Print the resolved configuration (walsync.toml + flags), do nothing
  version        Print the version
  help [CMD]     Show this help, or a command's help with examples

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.`;

type Command = (args: string[]) => Promise<number> | number;

interface CommandModule {
  run: Command;
  help: string;
}

/**
 * Each command's code loads only when that command runs, so the daemon does not carry the
 * others' modules (resident memory grows with the module graph).
 */
const MODULES: Record<string, () => Promise<CommandModule>> = {
  watch: async () => {
    const m = await import("./watch.ts");
    return { run: m.watchCommand, help: m.WATCH_HELP };
  },
  restore: async () => {
    const m = await import("./restore.ts");
    return { run: m.restoreCommand, help: m.RESTORE_HELP };
  },
  snapshot: async () => {
    const m = await import("./snapshot.ts");
    return { run: m.snapshotCommand, help: m.SNAPSHOT_HELP };
  },
  status: async () => {
    const m = await import("./status.ts");
    return { run: m.statusCommand, help: m.STATUS_HELP };
  },
  list: async () => {
    const m = await import("./list.ts");
    return { run: m.listCommand, help: m.LIST_HELP };
  },
  verify: async () => {
    const m = await import("./verify.ts");
    return { run: m.verifyCommand, help: m.VERIFY_HELP };
  },
  compact: async () => {
    const m = await import("./compact.ts");
    return { run: m.compactCommand, help: m.COMPACT_HELP };
  },
  explain: async () => {
    const m = await import("./explain.ts");
    return { run: m.explainCommand, help: m.EXPLAIN_HELP };
  },
  version: () => Promise.resolve({ run: printVersion, help: VERSION_HELP }),
  help: () => Promise.resolve({ run: printHelp, help: HELP_HELP }),
};

const VERSION_HELP = `Usage: walsync version

Prints walsync's version, the git commit and target it was built from ("unknown" and
"source" when run from a checkout) and the Deno version it runs on (also: walsync --version).

Example:
  walsync version`;

const HELP_HELP = `Usage: walsync help [COMMAND]

Prints the list of commands, or one command's usage, options and examples (the same as
walsync COMMAND --help).

Examples:
  walsync help
  walsync help restore`;

function printVersion(): number {
  writeOut(
    `walsync ${VERSION} (commit ${BUILD_COMMIT}, ${BUILD_TARGET}, deno ${Deno.version.deno})`,
  );
  return EXIT_OK;
}

async function printHelp(args: string[]): Promise<number> {
  const topic = args[0];
  if (topic === undefined) {
    writeOut(USAGE);
    return EXIT_OK;
  }
  const load = MODULES[topic];
  if (!load) {
    throw new UsageError(`No help for "${topic}"; commands: ${Object.keys(MODULES).join(", ")}`);
  }
  writeOut((await load()).help);
  return EXIT_OK;
}

/**
 * Runs one CLI invocation and returns its exit code; never throws. `options.os` stands in for
 * `Deno.build.os` (tests ask what Windows would do).
 */
export async function main(
  args: string[],
  options: { os?: OsName } = {},
): Promise<number> {
  const [name, ...rest] = args;
  try {
    if (name === undefined || name === "--help" || name === "-h") {
      writeOut(USAGE);
      return name === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (name === "--version" || name === "-V") return printVersion();
    const load = MODULES[name];
    if (!load) {
      throw new UsageError(`Unknown command "${name}"; run "walsync help" for the list`);
    }
    const command = await load();
    // Commands without options of their own still answer --help.
    if ((name === "version" || name === "help") && (rest[0] === "--help" || rest[0] === "-h")) {
      writeOut(command.help);
      return EXIT_OK;
    }
    const refusal = rest.includes("--help") || rest.includes("-h")
      ? null
      : platformRefusal(name, options.os ?? Deno.build.os);
    if (refusal) throw new UsageError(refusal);
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      writeErr(`error: ${error.message}`);
      return EXIT_USAGE;
    }
    if (error instanceof WalsyncError) {
      writeErr(`error: ${error.message}`);
      return EXIT_FAILURE;
    }
    writeErr(`internal error: ${error instanceof Error ? error.stack : String(error)}`);
    return EXIT_FAILURE;
  }
}
