// Public face of the cluster area.
export type { Membership, MembershipInit, NodeAnnouncement } from './types.ts';
export { DEFAULT_HEARTBEAT_MS } from './types.ts';
export { AnnouncementError, ClusterError } from './errors.ts';
export {
  joinCluster,
  listLiveNodes,
  nodesStream,
  rendezvous,
  decodeAnnouncement,
} from './membership.ts';
export { countingRunner } from './load.ts';
