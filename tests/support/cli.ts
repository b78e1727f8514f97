/** Runs the real CLI (`deno run -A mod.ts …`) in its own process and collects its output. */
export const MOD_PATH = new URL("../../mod.ts", import.meta.url).pathname;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runWalsync(
  args: string[],
  /** `clearEnv`: the child sees only `env` (to run without credentials the parent has). */
  options: { env?: Record<string, string>; cwd?: string; clearEnv?: boolean } = {},
): Promise<CliRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD_PATH, ...args],
    env: options.env,
    clearEnv: options.clearEnv,
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
