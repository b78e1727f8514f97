/**
 * The environment of a walsync child process that must find no AWS settings or credentials of
 * the machine running the tests: everything but `AWS_*`, no shared config or credentials file,
 * and no instance metadata service (run with `clearEnv: true`).
 */
export function envWithoutAws(extra: Record<string, string> = {}): Record<string, string> {
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([key]) => !key.startsWith("AWS_")),
  );
  return {
    ...env,
    AWS_CONFIG_FILE: "/nonexistent/walsync-test/aws-config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/walsync-test/aws-credentials",
    AWS_EC2_METADATA_DISABLED: "true",
    ...extra,
  };
}
