/**
 * Splits an `exec` command string into argv the way a POSIX shell splits words, without a
 * shell: 'single quotes' keep everything, "double quotes" keep everything but \" \\ \$ \`,
 * a backslash outside quotes escapes the next character. No variables, globs, pipes or
 * redirections: what you write is what runs (wrap in `sh -c '...'` for those).
 */
import { UsageError } from "../errors.ts";

export function splitCommandLine(command: string, what = "exec command"): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i];
    if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw unterminated(what, "'", command);
      word += command.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      for (i++;; i++) {
        if (i >= command.length) throw unterminated(what, '"', command);
        const d = command[i];
        if (d === '"') break;
        if (d === "\\" && i + 1 < command.length && '"\\$`'.includes(command[i + 1])) {
          word += command[++i];
        } else {
          word += d;
        }
      }
    } else if (c === "\\") {
      if (i + 1 >= command.length) {
        throw new UsageError(`The ${what} "${command}" ends with a lone backslash`);
      }
      word += command[++i];
      inWord = true;
    } else if (c === " " || c === "\t" || c === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0) {
    throw new UsageError(
      `The ${what} is empty; name the program to run, e.g. "/app/server --port 8080"`,
    );
  }
  return words;
}

function unterminated(what: string, quote: string, command: string): UsageError {
  return new UsageError(`The ${what} "${command}" has an unterminated ${quote} quote`);
}
