/** Whether process `pid` runs on this host: `/proc/<pid>` on Linux; elsewhere assumed alive. */
export function processAlive(pid: number): boolean {
  if (Deno.build.os !== "linux") return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}
