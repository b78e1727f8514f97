import { replicaConformance } from "../../../tests/support/replica_conformance.ts";
import { MemoryReplicaClient } from "./memory_replica_client.ts";

replicaConformance({
  label: "memory",
  make() {
    return Promise.resolve({ client: new MemoryReplicaClient(), cleanup: () => Promise.resolve() });
  },
});
