/** `walsync verify`: placeholder until implemented. */
import { UsageError } from "../errors.ts";

export const VERIFY_HELP = "Usage: walsync verify";

export function verifyCommand(_args: string[]): Promise<number> {
  return Promise.reject(new UsageError("verify is not implemented yet"));
}
