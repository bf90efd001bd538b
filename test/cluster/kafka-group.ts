// Waits until a Kafka consumer group holds `members` members, each assigned some partition of
// `topic`: the cluster tests' executors all take a share before the workflow arrives. (Nodes
// see each other through their heartbeats a second or two before Kafka has rebalanced their
// executor group; a workflow of trivial tasks submitted in between can end before the last
// node joins.)
import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitForGroup(
  brokers: string[],
  group: string,
  topic: string,
  members: number,
  timeoutMs = 60_000,
): Promise<void> {
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const deadline = performance.now() + timeoutMs;
    let last = 'not described yet';
    while (performance.now() < deadline) {
      const [g] = (await admin.describeGroups([group])).groups;
      const shares = (g?.members ?? []).map(
        (m) =>
          AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic]?.length ??
          0,
      );
      last = `state ${g?.state}, partitions per member [${shares.join(', ')}]`;
      if (g?.state === 'Stable' && shares.length === members && shares.every((n) => n > 0)) return;
      await sleep(100);
    }
    throw new Error(`consumer group ${group} not stable with ${members} members: ${last}`);
  } finally {
    await admin.disconnect();
  }
}
