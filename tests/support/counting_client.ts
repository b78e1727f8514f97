/** A replica client that records the name of every method called on it, in order. */
import type { ReplicaClient } from "../../src/replica/replica_client.ts";

export function counting(inner: ReplicaClient): ReplicaClient & { calls: string[] } {
  const calls: string[] = [];
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "calls") return calls;
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return value.apply(target, args);
      };
    },
  }) as ReplicaClient & { calls: string[] };
}
