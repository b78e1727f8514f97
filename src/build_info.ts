/**
 * What `walsync version` says about the build. `release/compile.ts` rewrites this file just
 * before `deno compile` (and puts it back after); a checkout keeps these defaults.
 */

/** The git commit the binary was built from ("unknown" when run from a checkout). */
export const BUILD_COMMIT: string = "unknown";
/** The `deno compile --target` of the binary, or "source" when run with `deno run`. */
export const BUILD_TARGET: string = "source";
