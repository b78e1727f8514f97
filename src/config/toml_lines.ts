/**
 * Line numbers for TOML key paths. The TOML parser reports no positions for keys, so this
 * scans the source text itself: table headers (with a running index per `[[array]]`), dotted
 * and quoted keys, inline tables, arrays, and multi-line strings whose continuation lines must
 * not be mistaken for keys. It runs on text the parser has accepted, and never throws on text
 * it has not.
 *
 * Paths are the parsed document's: `["databases", "1", "max_changes"]` for the second
 * `[[databases]]` entry's key. Array elements are numbered the same way.
 */

/** Returns the line (1-based) where `path` is defined, or its nearest defined parent's. */
export type LineLookup = (path: readonly string[]) => number;

/** Scans `text` and returns a lookup from key paths to line numbers. */
export function tomlLines(text: string): LineLookup {
  const lines = new Map<string, number>();
  new Scanner(text, lines).document();
  return (path) => {
    for (let n = path.length; n > 0; n--) {
      const line = lines.get(pathKey(path.slice(0, n)));
      if (line !== undefined) return line;
    }
    return 1;
  };
}

function pathKey(path: readonly string[]): string {
  return path.join("\0");
}

const BARE_KEY = /[A-Za-z0-9_-]/;
const ESCAPES: Record<string, string> = {
  b: "\b",
  t: "\t",
  n: "\n",
  f: "\f",
  r: "\r",
  e: "\x1b",
  '"': '"',
  "\\": "\\",
};

class Scanner {
  #pos = 0;
  #line = 1;
  /** Next index of each array of tables, by its resolved path. */
  #arrayCounts = new Map<string, number>();

  constructor(readonly text: string, readonly lines: Map<string, number>) {}

  document(): void {
    let table: string[] = [];
    while (this.#pos < this.text.length) {
      this.#skipBlank(true);
      const c = this.#peek();
      if (c === "") break;
      if (c === "[") {
        table = this.#header();
      } else {
        this.#keyValue(table);
      }
      this.#skipToLineEnd();
    }
  }

  #header(): string[] {
    const line = this.#line;
    const isArray = this.text.startsWith("[[", this.#pos);
    this.#pos += isArray ? 2 : 1;
    const keys = this.#key();
    this.#pos += isArray ? 2 : 1;
    // A header under an array of tables (`[[a]]` then `[a.b]`) means its latest element.
    const resolved: string[] = [];
    for (const [i, key] of keys.entries()) {
      resolved.push(key);
      // The header defines its own table; parents keep the line they were first named on.
      if (i === keys.length - 1 && !isArray) this.lines.set(pathKey(resolved), line);
      else this.#mark(resolved, line);
      const count = this.#arrayCounts.get(pathKey(resolved));
      if (count !== undefined && (i < keys.length - 1 || !isArray)) {
        resolved.push(String(count - 1));
      }
    }
    if (isArray) {
      const index = this.#arrayCounts.get(pathKey(resolved)) ?? 0;
      this.#arrayCounts.set(pathKey(resolved), index + 1);
      resolved.push(String(index));
      this.lines.set(pathKey(resolved), line);
    }
    return resolved;
  }

  #keyValue(table: string[]): void {
    const line = this.#line;
    const path = [...table];
    for (const key of this.#key()) {
      path.push(key);
      this.#mark(path, line);
    }
    this.#skipBlank(false);
    if (this.#peek() === "=") this.#pos++;
    this.#value(path);
  }

  #value(path: string[]): void {
    this.#skipBlank(false);
    const c = this.#peek();
    if (c === "{") {
      this.#pos++;
      while (this.#pos < this.text.length) {
        this.#skipBlank(true);
        const d = this.#peek();
        if (d === "}") {
          this.#pos++;
          return;
        }
        const start = this.#pos;
        if (d !== ",") this.#keyValue(path);
        if (this.#pos === start) this.#pos++; // A comma, or text the parser would reject.
      }
    } else if (c === "[") {
      this.#pos++;
      let index = 0;
      while (this.#pos < this.text.length) {
        this.#skipBlank(true);
        const d = this.#peek();
        if (d === "]") {
          this.#pos++;
          return;
        }
        const start = this.#pos;
        if (d !== ",") {
          const element = [...path, String(index++)];
          this.#mark(element, this.#line);
          this.#value(element);
        }
        if (this.#pos === start) this.#pos++; // A comma, or text the parser would reject.
      }
    } else if (c === '"' || c === "'") {
      this.#string();
    } else {
      // Numbers, booleans, dates: everything up to a delimiter.
      while (this.#pos < this.text.length && !",]}#\n".includes(this.#peek())) this.#pos++;
    }
  }

  /** A dotted key; leaves the position after its last part. */
  #key(): string[] {
    const keys: string[] = [];
    for (;;) {
      this.#skipBlank(false);
      const c = this.#peek();
      if (c === '"' || c === "'") {
        keys.push(this.#string());
      } else {
        const start = this.#pos;
        while (BARE_KEY.test(this.#peek())) this.#pos++;
        if (this.#pos === start) break;
        keys.push(this.text.slice(start, this.#pos));
      }
      this.#skipBlank(false);
      if (this.#peek() !== ".") break;
      this.#pos++;
    }
    return keys;
  }

  /** Any of the four string forms at the position; returns its decoded contents. */
  #string(): string {
    const quote = this.#peek();
    const triple = this.text.startsWith(quote.repeat(3), this.#pos);
    this.#pos += triple ? 3 : 1;
    let out = "";
    while (this.#pos < this.text.length) {
      if (!triple && this.#peek() === "\n") return out; // Unterminated: resume on the next line.
      const c = this.#next();
      if (c === quote && (!triple || this.text.startsWith(quote.repeat(2), this.#pos))) {
        if (triple) {
          this.#pos += 2;
          // Up to two quotes may sit right before the closing three.
          for (let extra = 0; extra < 2 && this.#peek() === quote; extra++) this.#pos++;
        }
        return out;
      }
      if (c === "\\" && quote === '"') {
        const e = this.#next();
        if (e === "u" || e === "U") {
          const digits = this.text.slice(this.#pos, this.#pos + (e === "u" ? 4 : 8));
          this.#pos += digits.length;
          const code = parseInt(digits, 16);
          out += Number.isNaN(code) || code > 0x10ffff ? "" : String.fromCodePoint(code);
        } else {
          out += ESCAPES[e] ?? (/\s/.test(e) ? "" : e);
        }
        continue;
      }
      out += c;
    }
    return out;
  }

  /** Records the first line a path appears on (implicit parents keep their first mention). */
  #mark(path: string[], line: number): void {
    const key = pathKey(path);
    if (!this.lines.has(key)) this.lines.set(key, line);
  }

  /** Skips spaces, tabs, comments and, if `newlines`, line breaks. */
  #skipBlank(newlines: boolean): void {
    while (this.#pos < this.text.length) {
      const c = this.#peek();
      if (c === " " || c === "\t" || c === "\r" || (newlines && c === "\n")) {
        this.#next();
      } else if (c === "#") {
        while (this.#pos < this.text.length && this.#peek() !== "\n") this.#pos++;
      } else {
        return;
      }
    }
  }

  #skipToLineEnd(): void {
    while (this.#pos < this.text.length && this.#peek() !== "\n") this.#next();
  }

  #peek(): string {
    return this.text[this.#pos] ?? "";
  }

  #next(): string {
    const c = this.text[this.#pos++] ?? "";
    if (c === "\n") this.#line++;
    return c;
  }
}
