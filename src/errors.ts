/**
 * Every error walsync raises on purpose is a `WalsyncError`, so the CLI entry can tell a
 * known failure (clear message, exit code) from a bug (stack trace).
 */
export class WalsyncError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line usage or configuration: the CLI exits with code 2. */
export class UsageError extends WalsyncError {}

/** Bytes that do not follow a format walsync reads (WAL, LTX, LZ4). */
export class FormatError extends WalsyncError {
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;

  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(`${message} (at offset ${offset})`, options);
    this.offset = offset;
  }
}

/** Stored data whose checksum does not match what was recorded. */
export class ChecksumMismatchError extends FormatError {}
