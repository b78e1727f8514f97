/**
 * `$VAR` and `${VAR}` in config string values, so secrets and per-host settings can stay
 * out of the file. `$$` is a literal `$`. Strict: an unset variable, or a `$` that starts
 * neither form, is an error rather than a silent empty string.
 */
import { UsageError } from "../errors.ts";

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Looks up an environment variable; `undefined` means unset. */
export type EnvLookup = (name: string) => string | undefined;

/** Expands `$VAR`, `${VAR}` and `$$` in `text`; the error names the first unset variable. */
export function expandEnv(text: string, env: EnvLookup): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf("$", i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const rest = text.slice(dollar + 1);
    if (rest.startsWith("$")) {
      out += "$";
      i = dollar + 2;
      continue;
    }
    let name: string | undefined;
    if (rest.startsWith("{")) {
      const close = rest.indexOf("}");
      const inner = close < 0 ? undefined : rest.slice(1, close);
      if (inner === undefined || NAME.exec(inner)?.[0] !== inner) {
        throw new UsageError(
          `"${text}" has a malformed "\${…}"; write \${NAME} with letters, digits and _, or $$ for a literal $`,
        );
      }
      name = inner;
      i = dollar + 1 + close + 1;
    } else {
      name = NAME.exec(rest)?.[0];
      if (name === undefined) {
        throw new UsageError(
          `"${text}" has a "$" that starts no variable; write $$ for a literal $`,
        );
      }
      i = dollar + 1 + name.length;
    }
    const value = env(name);
    if (value === undefined) {
      throw new UsageError(`environment variable "${name}" is not set`);
    }
    out += value;
  }
  return out;
}
