/** The errors a restore raises on purpose; each one exits 1 with its message. */
import { WalsyncError } from "../errors.ts";

/** A restore that cannot proceed or produced something that does not verify. */
export class RestoreError extends WalsyncError {}

/** OUT cannot be written: a directory, a missing parent, no permission, a live database. */
export class OutputPathError extends RestoreError {}

/** The restore was stopped by a signal; nothing was written to OUT. */
export class RestoreInterruptedError extends RestoreError {}
