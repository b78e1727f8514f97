/**
 * The walsync CLI as it behaves on Windows (`main` told the OS is "windows"), so that
 * release/smoke.sh's Windows mode can run here: only the platform check differs.
 */
import { main } from "../../src/cli/main.ts";

Deno.exit(await main(Deno.args, { os: "windows" }));
