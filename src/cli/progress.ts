/**
 * Progress for long operations (restore, snapshot) on stderr: on a terminal one bar redrawn
 * in place, at most every `DEFAULT_REDRAW_MS`; otherwise (a pipe, a log file, CI) plain lines,
 * one per quarter of the work or every `intervalMs`, whichever comes first, and a final line.
 * The formatting helpers are pure and exported for tests.
 */

/** Plain-line mode prints at least this often while work goes on. */
export const DEFAULT_INTERVAL_MS = 5_000;
/** A terminal bar is redrawn at most this often (10 times a second). */
export const DEFAULT_REDRAW_MS = 100;
/** Terminal width when the console size cannot be read. */
export const DEFAULT_COLUMNS = 80;
/** The bar never grows wider than this, however wide the terminal. */
export const MAX_BAR_WIDTH = 40;
/** Below this width the bar is dropped and only the numbers are shown. */
export const MIN_BAR_WIDTH = 10;

/** Room kept after the bar for the rate and the ETA: `1023.9 MiB/s`, `ETA 59m59s`. */
const RATE_WIDTH = 12;
const ETA_WIDTH = 10;
/** The most a running (not final) line shows: 99%, one cell short of a full bar. */
const ALMOST_DONE = 0.999;
const BAR_FILLED = "█";
const BAR_EMPTY = "░";
/** Carriage return, then erase to the end of the line. */
const REDRAW = "\r\x1b[K";
const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];
const encoder = new TextEncoder();

export interface Progress {
  /** Reports `doneBytes` so far (and the total, when it becomes known or changes). */
  update(doneBytes: number, totalBytes?: number): void;
  /** Writes a line (a log line) without tearing the bar: it appears above the bar. */
  print(text: string): void;
  /** Ends the display with a final line, adding `summary` when given. Idempotent. */
  done(summary?: string): void;
  /** Ends the display without a final line (the operation failed). Idempotent. */
  cancel(): void;
}

export interface ProgressOptions {
  /** What is being done, e.g. "restore app.db". */
  label: string;
  totalBytes?: number;
  /** Draw a bar redrawn in place; default: whether stderr is a terminal. */
  tty?: boolean;
  /** Where output goes; stderr by default. */
  write?: (text: string) => void;
  /** Plain-line mode: the longest gap between lines; default `DEFAULT_INTERVAL_MS`. */
  intervalMs?: number;
  /** Terminal width for the bar; default the console's, else `DEFAULT_COLUMNS`. */
  columns?: number;
  /** The clock, in milliseconds (tests inject one). */
  now?: () => number;
}

/** What a progress line is drawn from. */
export interface ProgressState {
  label: string;
  doneBytes: number;
  totalBytes?: number;
  /** Milliseconds since the start. */
  elapsedMs: number;
}

export function createProgress(options: ProgressOptions): Progress {
  const tty = options.tty ?? Deno.stderr.isTerminal();
  const write = options.write ?? writeStderr;
  const now = options.now ?? (() => performance.now());
  return tty
    ? new TtyProgress(options, write, now, options.columns ?? terminalColumns())
    : new PlainProgress(options, write, now);
}

/** `512 B`, `1.5 KiB`, `117.0 MiB`: binary units, one decimal. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** `61.2/117.0 MiB`: both sides in the unit of the total, so they compare at a glance. */
export function formatByteRatio(doneBytes: number, totalBytes: number, separator = "/"): string {
  if (totalBytes < 1024) return `${Math.round(doneBytes)}${separator}${Math.round(totalBytes)} B`;
  const [value, unit] = formatBytes(totalBytes).split(" ");
  const divisor = 1024 ** (UNITS.indexOf(unit) + 1);
  return `${(doneBytes / divisor).toFixed(1)}${separator}${value} ${unit}`;
}

/** `48.1 MiB/s`, or undefined before any time has passed. */
export function formatRate(doneBytes: number, elapsedMs: number): string | undefined {
  if (elapsedMs <= 0) return undefined;
  return `${formatBytes((doneBytes * 1000) / elapsedMs)}/s`;
}

/** Whole percent, rounded down so that 100% means all of it; clamped to 0–100. */
export function formatPercent(doneBytes: number, totalBytes: number): string {
  if (totalBytes <= 0) return "100%";
  const percent = Math.floor((doneBytes * 100) / totalBytes);
  return `${Math.min(100, Math.max(0, percent))}%`;
}

/** Elapsed time: `38ms`, `2.4s`, `12s`, `1m05s`, `2h03m`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.floor(ms))}ms`;
  if (ms < 10_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  return formatWholeSeconds(Math.round(ms / 1000));
}

/** Time left, rounded up to whole seconds: `1s`, `59s`, `1m05s`, `2h03m`. */
export function formatEta(ms: number): string {
  return formatWholeSeconds(Math.max(1, Math.ceil(ms / 1000)));
}

/** `██████████░░░░░░░░░░`: `width` cells, filled in proportion (rounded down). */
export function renderBar(fraction: number, width: number): string {
  const filled = Math.floor(Math.min(1, Math.max(0, fraction)) * width);
  return BAR_FILLED.repeat(filled) + BAR_EMPTY.repeat(width - filled);
}

/**
 * One terminal line, at most `columns - 1` wide (writing the last column makes some
 * terminals wrap): `restore app.db [████░░]  52%  61.2/117.0 MiB  48.1 MiB/s  ETA 1s`.
 * `final` shows the elapsed time instead of the ETA; only the final line shows 100%.
 */
export function renderTtyLine(state: ProgressState, columns: number, final = false): string {
  const { label, doneBytes, totalBytes, elapsedMs } = state;
  const known = totalBytes !== undefined;
  const parts: string[] = [];
  // Until the final line, work remains (a restore still verifies what it downloaded): the
  // running line never claims 100%.
  const shownFraction = !known || totalBytes <= 0
    ? 1
    : Math.min(doneBytes / totalBytes, final ? 1 : ALMOST_DONE);
  if (known) {
    const percent = formatPercent(doneBytes, totalBytes);
    parts.push((!final && percent === "100%" ? "99%" : percent).padStart(4));
    parts.push(formatByteRatio(doneBytes, totalBytes));
  } else {
    parts.push(formatBytes(doneBytes));
  }
  const rate = formatRate(doneBytes, elapsedMs);
  if (rate !== undefined) parts.push(rate);
  if (final) parts.push(`in ${formatDuration(elapsedMs)}`);
  else {
    const eta = estimateMs(state);
    if (eta !== undefined) parts.push(`ETA ${formatEta(eta)}`);
  }
  const numbers = parts.join("  ");
  const room = Math.max(0, columns - 1);
  let line = `${label}  ${numbers}`;
  if (known) {
    // The bar's width depends only on the label and the total, so it does not jitter as
    // the numbers after it change length; it takes what the terminal leaves, within bounds.
    const reserved = 4 + 2 + formatByteRatio(totalBytes, totalBytes).length + 2 + RATE_WIDTH +
      2 + ETA_WIDTH;
    const barWidth = Math.min(MAX_BAR_WIDTH, room - label.length - reserved - 4);
    if (barWidth >= MIN_BAR_WIDTH) {
      line = `${label} [${renderBar(shownFraction, barWidth)}] ${numbers}`;
    }
  }
  return line.slice(0, room);
}

/** One plain line: `restore app.db: 52% (61.2 of 117.0 MiB)`, or just the bytes. */
export function renderPlainLine(state: ProgressState): string {
  const { label, doneBytes, totalBytes } = state;
  if (totalBytes === undefined) return `${label}: ${formatBytes(doneBytes)}`;
  return `${label}: ${formatPercent(doneBytes, totalBytes)} (${
    formatByteRatio(doneBytes, totalBytes, " of ")
  })`;
}

/** The last plain line: `restore app.db: 100% (117.0 of 117.0 MiB) in 2.4s, 48.1 MiB/s`. */
export function renderPlainFinal(state: ProgressState, summary?: string): string {
  const rate = formatRate(state.doneBytes, state.elapsedMs);
  return `${renderPlainLine(state)} in ${formatDuration(state.elapsedMs)}${
    rate === undefined ? "" : `, ${rate}`
  }${summary ? `; ${summary}` : ""}`;
}

function estimateMs(state: ProgressState): number | undefined {
  const { doneBytes, totalBytes, elapsedMs } = state;
  if (totalBytes === undefined || doneBytes <= 0 || elapsedMs <= 0) return undefined;
  if (doneBytes >= totalBytes) return undefined;
  return ((totalBytes - doneBytes) * elapsedMs) / doneBytes;
}

function formatWholeSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

abstract class BaseProgress implements Progress {
  protected readonly label: string;
  protected readonly write: (text: string) => void;
  protected readonly now: () => number;
  protected readonly startedAt: number;
  protected doneBytes = 0;
  protected totalBytes: number | undefined;
  protected finished = false;

  constructor(options: ProgressOptions, write: (text: string) => void, now: () => number) {
    this.label = options.label;
    this.totalBytes = options.totalBytes;
    this.write = write;
    this.now = now;
    this.startedAt = now();
  }

  update(doneBytes: number, totalBytes?: number): void {
    if (this.finished) return;
    this.doneBytes = doneBytes;
    if (totalBytes !== undefined) this.totalBytes = totalBytes;
    this.changed(this.now());
  }

  abstract print(text: string): void;
  abstract done(summary?: string): void;
  abstract cancel(): void;
  protected abstract changed(at: number): void;

  protected state(at: number): ProgressState {
    return {
      label: this.label,
      doneBytes: this.doneBytes,
      totalBytes: this.totalBytes,
      elapsedMs: at - this.startedAt,
    };
  }
}

class TtyProgress extends BaseProgress {
  readonly #columns: number;
  #drawnAt: number | undefined;
  #line = "";

  constructor(
    options: ProgressOptions,
    write: (text: string) => void,
    now: () => number,
    columns: number,
  ) {
    super(options, write, now);
    this.#columns = columns;
  }

  protected changed(at: number): void {
    if (this.#drawnAt !== undefined && at - this.#drawnAt < DEFAULT_REDRAW_MS) return;
    this.#drawnAt = at;
    this.#line = renderTtyLine(this.state(at), this.#columns);
    this.write(`${REDRAW}${this.#line}`);
  }

  print(text: string): void {
    const line = text.endsWith("\n") ? text : `${text}\n`;
    if (this.finished || this.#drawnAt === undefined) this.write(line);
    else this.write(`${REDRAW}${line}${this.#line}`);
  }

  done(summary?: string): void {
    if (this.finished) return;
    this.finished = true;
    const line = renderTtyLine(this.state(this.now()), this.#columns, true);
    this.write(`${REDRAW}${line}${summary ? `  ${summary}` : ""}\n`);
  }

  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.#drawnAt !== undefined) this.write("\n");
  }
}

class PlainProgress extends BaseProgress {
  readonly #intervalMs: number;
  #printedAt: number;
  #quarter = 0;

  constructor(options: ProgressOptions, write: (text: string) => void, now: () => number) {
    super(options, write, now);
    this.#intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.#printedAt = this.startedAt;
  }

  protected changed(at: number): void {
    // Quarters 1–3 only, and nothing once all is done: that is the final line's.
    const total = this.totalBytes;
    if (total !== undefined && this.doneBytes >= total) return;
    const quarter = total === undefined || total <= 0
      ? 0
      : Math.floor((this.doneBytes * 4) / total);
    if (quarter <= this.#quarter && at - this.#printedAt < this.#intervalMs) return;
    this.#quarter = Math.max(this.#quarter, quarter);
    this.#printedAt = at;
    this.write(`${renderPlainLine(this.state(at))}\n`);
  }

  print(text: string): void {
    this.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  done(summary?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.write(`${renderPlainFinal(this.state(this.now()), summary)}\n`);
  }

  cancel(): void {
    this.finished = true;
  }
}

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns || DEFAULT_COLUMNS;
  } catch {
    return DEFAULT_COLUMNS;
  }
}

function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}
