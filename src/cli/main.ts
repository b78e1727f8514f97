/**
 * The CLI entry: dispatches a subcommand and is the only place that turns errors into exit
 * codes (0 ok, 1 runtime failure, 2 usage or configuration error).
 */
import { UsageError, WalsyncError } from "../errors.ts";
import { VERSION } from "../version.ts";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const encoder = new TextEncoder();

/** Command results go to stdout. */
export function writeOut(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text.endsWith("\n") ? text : `${text}\n`));
}

/** Human messages go to stderr. */
export function writeErr(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text.endsWith("\n") ? text : `${text}\n`));
}

const USAGE = `walsync ${VERSION} — continuous WAL replication for many SQLite databases

Usage: walsync <command> [options]

Commands:
  version        Print the version
  help           Show this help

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.`;

type Command = (args: string[]) => Promise<number> | number;

const COMMANDS: Record<string, Command> = {
  version: () => {
    writeOut(`walsync ${VERSION} (deno ${Deno.version.deno})`);
    return EXIT_OK;
  },
  help: () => {
    writeOut(USAGE);
    return EXIT_OK;
  },
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
