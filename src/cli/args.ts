/**
 * Flag parsing for subcommands: `--name value`, `--name=value`, `-n value`, boolean flags
 * (`--flag`, `--flag=false`),
 * positionals, and `--` to end flags. Strict: an unknown flag or a missing value is a usage
 * error naming it. (Written here rather than `node:util`'s parseArgs, which loads Deno's Node
 * compatibility layer: about 3 MB of resident memory the daemon does not need.)
 */
import { suggest } from "../config/did_you_mean.ts";
import { UsageError } from "../errors.ts";

export interface FlagDefinition {
  type: "string" | "boolean";
  short?: string;
}

export type FlagSpec = Record<string, FlagDefinition>;

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parses `args` for `command`; unknown flags and missing values name the flag. */
export function parseCommandArgs(command: string, args: string[], options: FlagSpec): ParsedArgs {
  const spec: FlagSpec = { help: { type: "boolean", short: "h" }, ...options };
  const byShort = new Map(
    Object.entries(spec).flatMap(([name, d]) => (d.short ? [[d.short, name]] : [])),
  );
  const values: ParsedArgs["values"] = {};
  const positionals: string[] = [];
  const fail = (message: string): never => {
    throw new UsageError(`${message}; run "walsync help ${command}" for usage`);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const eq = long ? arg.indexOf("=") : -1;
    const given = long ? arg.slice(2, eq >= 0 ? eq : undefined) : arg.slice(1);
    const name = long ? given : byShort.get(given);
    const definition = name === undefined ? undefined : spec[name];
    if (name === undefined || !definition) unknownOption(command, arg, spec);
    if (definition!.type === "boolean") {
      // `--flag`, or explicitly `--flag=true` / `--flag=false` (to override walsync.toml).
      const text = eq >= 0 ? arg.slice(eq + 1) : "true";
      if (text !== "true" && text !== "false") {
        fail(`Option "--${name}" takes no value, or =true / =false`);
      }
      values[name!] = text === "true";
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || (eq < 0 && value.startsWith("-") && value !== "-")) {
      value = fail(`Option "${arg}" needs a value`);
    }
    values[name!] = value;
  }
  return { values, positionals };
}

/** An unknown option: "did you mean" the long flag it resembles, else a pointer to the usage. */
function unknownOption(command: string, arg: string, spec: FlagSpec): never {
  const given = arg.replace(/^--?/, "").replace(/=.*$/s, "");
  const longs = Object.keys(spec);
  // `-txid` is `--txid` with a dash missing; `--tixd` a typo of it.
  const meant = !arg.startsWith("--") && longs.includes(given) ? given : suggest(given, longs);
  if (meant !== undefined && given.length > 1) {
    throw new UsageError(`Unknown option "${arg}"; did you mean "--${meant}"?`);
  }
  throw new UsageError(`Unknown option "${arg}"; run "walsync help ${command}" for usage`);
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
