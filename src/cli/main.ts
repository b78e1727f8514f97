/**
 * The CLI entry: dispatches a subcommand and is the only place that turns errors into exit
 * codes (0 ok, 1 runtime failure, 2 usage or configuration error).
 */
import { UsageError, WalsyncError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit_codes.ts";
import { writeErr, writeOut } from "./output.ts";
import { EXPLAIN_HELP, explainCommand } from "./explain.ts";
import { LIST_HELP, listCommand } from "./list.ts";
import { RESTORE_HELP, restoreCommand } from "./restore.ts";
import { SNAPSHOT_HELP, snapshotCommand } from "./snapshot.ts";
import { VERIFY_HELP, verifyCommand } from "./verify.ts";
import { WATCH_HELP, watchCommand } from "./watch.ts";

export { writeErr, writeOut } from "./output.ts";

const USAGE = `walsync ${VERSION} — continuous WAL replication for many SQLite databases

Usage: walsync <command> [options]

Commands:
  watch          Replicate databases continuously (the daemon)
  restore        Rebuild a database from its replica, verified
  snapshot       Take a full snapshot of one database now
  list           List the databases in a replica
  verify         Check every object of a database's replica and a full restore
  explain        Print the resolved configuration (walsync.toml + flags), do nothing
  version        Print the version
  help [CMD]     Show this help, or a command's help with examples

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.`;

type Command = (args: string[]) => Promise<number> | number;

const COMMANDS: Record<string, Command> = {
  version: () => {
    writeOut(`walsync ${VERSION} (deno ${Deno.version.deno})`);
    return EXIT_OK;
  },
  help: (args) => {
    const topic = args[0];
    if (topic === undefined) {
      writeOut(USAGE);
      return EXIT_OK;
    }
    const text = HELP[topic];
    if (!text) {
      throw new UsageError(`No help for "${topic}"; commands: ${Object.keys(COMMANDS).join(", ")}`);
    }
    writeOut(text);
    return EXIT_OK;
  },
  watch: watchCommand,
  restore: restoreCommand,
  snapshot: snapshotCommand,
  list: listCommand,
  verify: verifyCommand,
  explain: explainCommand,
};

const HELP: Record<string, string> = {
  watch: WATCH_HELP,
  restore: RESTORE_HELP,
  snapshot: SNAPSHOT_HELP,
  list: LIST_HELP,
  verify: VERIFY_HELP,
  explain: EXPLAIN_HELP,
  version: `Usage: walsync version

Prints walsync's version and the Deno version it runs on (also: walsync --version).

Example:
  walsync version`,
  help: `Usage: walsync help [COMMAND]

Prints the list of commands, or one command's usage, options and examples (the same as
walsync COMMAND --help).

Examples:
  walsync help
  walsync help restore`,
};

/** Runs one CLI invocation and returns its exit code; never throws. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  try {
    if (name === undefined || name === "--help" || name === "-h") {
      writeOut(USAGE);
      return name === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (name === "--version" || name === "-V") return await COMMANDS.version(rest);
    const command = COMMANDS[name];
    if (!command) {
      throw new UsageError(`Unknown command "${name}"; run "walsync help" for the list`);
    }
    // Commands without options of their own still answer --help.
    if ((name === "version" || name === "help") && (rest[0] === "--help" || rest[0] === "-h")) {
      writeOut(HELP[name]);
      return EXIT_OK;
    }
    return await command(rest);
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
