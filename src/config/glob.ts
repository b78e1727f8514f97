/**
 * Database paths in walsync.toml may be globs: `*` and `?` within one path segment,
 * `[abc]`, `[a-z]` and `[!a]` for one character, and `**` for any number of segments
 * (including none). There is no escaping: a name containing `*`, `?` or `[` cannot be given
 * literally. `*` also matches names that start with a dot.
 *
 * Expansion reads the directory tree with Deno.readDir and Deno.stat only. Deno.watchFs is
 * never used here: watching a database's directory made this process lose SQLite locks.
 */

const GLOB_CHAR = /[*?[]/;
/** Files beside a database that are never databases themselves. */
const SIDE_FILE_SUFFIXES = ["-wal", "-shm", "-journal", ".walsync-tmp"];

/** Whether `path` has any glob character. */
export function isGlob(path: string): boolean {
  return GLOB_CHAR.test(path);
}

/**
 * The directory a pattern's matches all live under: its longest leading run of segments
 * without glob characters (`/srv/tenants/*\/app.db` → `/srv/tenants`). For a literal path,
 * the directory holding it.
 */
export function globRoot(pattern: string): string {
  const segments = pattern.split("/");
  const fixed = segments.findIndex((s) => isGlob(s));
  const kept = segments.slice(0, fixed < 0 ? segments.length - 1 : fixed);
  const root = kept.join("/");
  if (root === "") return pattern.startsWith("/") ? "/" : ".";
  return root;
}

/** A regular expression matching whole paths against `pattern`. */
export function globToRegExp(pattern: string): RegExp {
  const segments = pattern.split("/");
  let source = "";
  for (const [i, segment] of segments.entries()) {
    if (segment === "**") {
      // Zero or more whole segments, each with the separator that joins it to the rest.
      source += i === 0 ? "(?:[^/]+/)*" : "(?:/[^/]+)*";
      continue;
    }
    // A leading `**` carries its own separator; every other segment is joined by one.
    const joined = i === 0 || (i === 1 && segments[0] === "**");
    source += (joined ? "" : "/") + segmentSource(segment);
  }
  return new RegExp(`^${source}$`);
}

function segmentSource(segment: string): string {
  let source = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === "*") {
      source += "[^/]*";
      while (segment[i + 1] === "*") i++;
    } else if (c === "?") {
      source += "[^/]";
    } else if (c === "[") {
      const parsed = bracketSource(segment, i);
      if (parsed) {
        source += parsed.source;
        i = parsed.end;
      } else {
        source += "\\[";
      }
    } else {
      source += escapeRegExp(c);
    }
  }
  return source;
}

/** `[abc]`, `[a-z]`, `[!a]` starting at `start`; undefined if the bracket never closes. */
function bracketSource(
  segment: string,
  start: number,
): { source: string; end: number } | undefined {
  let i = start + 1;
  const negated = segment[i] === "!";
  if (negated) i++;
  let body = "";
  // A `]` right after the opening bracket is a member, not the end.
  for (let first = true; i < segment.length; i++, first = false) {
    const c = segment[i];
    if (c === "]" && !first) {
      if (body === "") return undefined;
      return { source: negated ? `[^/${body}]` : `[${body}]`, end: i };
    }
    body += c === "-" ? "-" : c.replace(/[\\\]^[]/, "\\$&");
  }
  return undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The absolute files matching `pattern` (which must be absolute), sorted. Walks from the pattern's root
 * only as deep as the pattern has segments (unbounded below `**`); matches nothing under a
 * root that does not exist. Skips directories, SQLite side files (`-wal`, `-shm`,
 * `-journal`), walsync temp files and walsync's staging folders (`.name-walsync`). Below
 * `**`, symlinked directories are not followed, so a link cycle cannot trap the walk.
 */
export async function expandGlob(pattern: string): Promise<string[]> {
  const root = globRoot(pattern);
  const rest = pattern.slice(root === "/" ? 1 : root.length + 1).split("/");
  const whole = globToRegExp(pattern);
  const found: string[] = [];
  await walk(root, rest, whole, found);
  return found.sort();
}

async function walk(dir: string, rest: string[], whole: RegExp, found: string[]): Promise<void> {
  const [segment, ...deeper] = rest;
  const unbounded = segment === "**";
  const matcher = unbounded ? undefined : new RegExp(`^${segmentSource(segment)}$`);
  for (const entry of await readDirEntries(dir)) {
    if (matcher && !matcher.test(entry.name)) continue;
    const path = dir === "/" ? `/${entry.name}` : `${dir}/${entry.name}`;
    let isDirectory = entry.isDirectory;
    let isFile = entry.isFile;
    if (entry.isSymlink && !unbounded) {
      const target = await statOrUndefined(path);
      isDirectory = target?.isDirectory ?? false;
      isFile = target?.isFile ?? false;
    } else if (entry.isSymlink) {
      isFile = (await statOrUndefined(path))?.isFile ?? false;
    }
    if (isDirectory) {
      if (isStagingDir(entry.name)) continue;
      if (unbounded) await walk(path, rest, whole, found);
      else if (deeper.length > 0) await walk(path, deeper, whole, found);
    } else if (isFile && (unbounded || deeper.length === 0)) {
      if (!isSideFile(entry.name) && whole.test(path)) found.push(path);
    }
  }
}

async function readDirEntries(dir: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) entries.push(entry);
  } catch (error) {
    // A root that does not exist (yet) holds no databases; neither does a plain file.
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return [];
    }
    throw error;
  }
  return entries;
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined; // A dangling link.
    throw error;
  }
}

/** SQLite journal, WAL and shared-memory files, and walsync temp files. */
export function isSideFile(name: string): boolean {
  return SIDE_FILE_SUFFIXES.some((suffix) => name.endsWith(suffix));
}

/** walsync keeps its staging files in `.<database>-walsync` beside each database. */
function isStagingDir(name: string): boolean {
  return name.startsWith(".") && name.endsWith("-walsync");
}

/** The parts of a database entry that decide replica names. */
export interface NamedEntry {
  glob: boolean;
  root: string;
  name?: string;
}

/**
 * The replica name for `absolutePath` matched by `entry`. A literal path is named by its
 * `name`, else its base name. A glob match is named by its path below the glob's root
 * (`/srv/tenants/*\/app.db` matching `/srv/tenants/a/app.db` → `a/app.db`), and a `name` on a
 * glob entry is a prefix: `name = "prod"` gives `prod/a/app.db`.
 */
export function defaultName(entry: NamedEntry, absolutePath: string): string {
  if (!entry.glob) return entry.name ?? absolutePath.slice(absolutePath.lastIndexOf("/") + 1);
  const relative = entry.root === "/"
    ? absolutePath.slice(1)
    : absolutePath.slice(entry.root.length + 1);
  return entry.name === undefined ? relative : `${entry.name}/${relative}`;
}

/**
 * `path` made absolute against the directory `base` and normalised: empty and `.` segments
 * dropped, `..` applied. A leading `~` is not expanded: it is a shell feature, so `~/a.db`
 * means a directory named `~` below `base`.
 */
export function resolvePath(base: string, path: string): string {
  const joined = path.startsWith("/") ? path : `${base}/${path}`;
  const segments: string[] = [];
  for (const segment of joined.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return `/${segments.join("/")}`;
}
