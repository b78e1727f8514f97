/** Flag parsing for subcommands: `node:util` parseArgs, with errors as usage errors. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../errors.ts";

export type FlagSpec = NonNullable<ParseArgsConfig["options"]>;

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** Parses `args` for `command`; unknown flags and missing values name the flag. */
export function parseCommandArgs(command: string, args: string[], options: FlagSpec): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { help: { type: "boolean", short: "h" }, ...options },
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new UsageError(`${message}; run "walsync help ${command}" for usage`, { cause: error });
  }
}

export function stringFlag(parsed: ParsedArgs, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === "string" ? value : undefined;
}

/** Makes a database path absolute (replicas and locks key on it). */
export function absolutePath(path: string): string {
  if (path.startsWith("/")) return path;
  const joined = `${Deno.cwd()}/${path}`;
  return joined.replace(/\/\.\//g, "/");
}
