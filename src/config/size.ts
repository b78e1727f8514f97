/** Byte sizes as operators write them: "512MB", "1GiB", "64KiB" or a plain number of bytes. */
import { UsageError } from "../errors.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};
const PATTERN = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/** Parses a size into bytes; `what` names the flag or key in the error. */
export function parseSize(value: string | number, what: string): number {
  const match = PATTERN.exec(String(value).trim());
  const unit = match ? UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new UsageError(
      `${what} "${value}" is not a size; use e.g. "512MB", "1GiB" or a number of bytes`,
    );
  }
  return Math.round(Number(match[1]) * unit);
}
