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
export { createMatchmaker, offersStream, DEFAULT_BID_WINDOW_MS } from './matchmaker.ts';
export type { Matchmaker, MatchmakerInit } from './matchmaker.ts';
export { createLocalPlacement } from './local-placement.ts';
export { bidFor, bestBid, unmetBy, BID_DEFAULTS } from './bid.ts';
export type { Bid, NodeCapabilities } from './bid.ts';
export { createCostHistory, DEFAULT_HISTORY_SIZE } from './cost-history.ts';
export type { CostHistory, FunctionCost } from './cost-history.ts';
