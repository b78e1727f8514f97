/** `walsync list`: placeholder until implemented. */
import { UsageError } from "../errors.ts";

export const LIST_HELP = "Usage: walsync list";

export function listCommand(_args: string[]): Promise<number> {
  return Promise.reject(new UsageError("list is not implemented yet"));
}
