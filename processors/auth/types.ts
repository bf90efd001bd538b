/**
 * The contracts of the authority layer. Types only.
 *
 * @module
 */
import type { IpldValue } from '../../schemas/ipld.ts';
import type { ReceiptEvent } from '../../schemas/events.ts';
import type { ParsedWorkflow } from '../../schemas/model.ts';
import type { ReceiptVerificationError } from './errors.ts';
import type { TokenHasher } from './token-cid.ts';

/** What a task needs authority for: its resource and ability (an effect: its URL and op). */
export interface Requirement {
  /** The task's `rsc` (`ipfs://…` for Wasm, the URL of an effect). */
  rsc: string;
  /** The task's `op` (`wasm/run`, `http/get`, …). */
  op: string;
}

/** The context a proof is checked in. */
export interface CheckContext {
  /** Unix time in seconds: time bounds are checked against it. */
  nowSeconds: number;
  /** The DID the leaf token must be addressed to (this node); undefined: not checked. */
  audience?: string;
  /** DIDs allowed to be the root of a chain; undefined: any root (fixture checks). */
  trusted?: ReadonlySet<string>;
  /** True when the token with this CID was revoked. */
  isRevoked(cid: string): boolean;
  /** A proof by its CID (string form), when a token links rather than embeds it. */
  resolve(cid: string): string | undefined;
}

/** A proof that passed: what it proves, and whether it may be used once only. */
export interface Grant {
  /** CID of the leaf token. */
  cid: string;
  /** The issuer of the leaf token (the invoker). */
  issuer: string;
  /** Set for single-use tokens (a UCAN 1.0 invocation): replays of this key are refused. */
  singleUse?: string;
}

/**
 * One token format (JWT UCAN 0.8/0.10, UCAN 1.0). Adapters parse and verify with their library
 * and apply the rules the libraries leave to the caller: the injected clock, audience, chain
 * to a trusted root, attenuation, revocation.
 */
export interface ProofChecker {
  /** `'jwt'` or `'ucan-1.0'`. */
  readonly format: string;
  /** True when `token` is in this adapter's format (cheap, syntactic). */
  accepts(token: string): boolean;
  /** The CID that names `token` in a task's `prf` (string form; sha2-256 unless told). */
  cidOf(token: string, hasher?: TokenHasher): string;
  /**
   * Checks that `token` (with its chain) grants `requirement` in `context`; without a
   * requirement only the token and its chain are validated.
   * @throws {AuthError} named by the rule broken, with the proof located
   */
  check(token: string, requirement: Requirement | undefined, context: CheckContext): Grant;
}

/** Proofs supplied with a submission: token CID → token. */
export type ProofMap = Record<string, string>;

/** Arguments an adapter's policy language may look at. */
export type Args = Record<string, IpldValue>;

/** `open`: anyone who reaches the node runs anything (local use). `ucan`: proofs required. */
export type AuthMode = 'open' | 'ucan';

/** What a receipt is checked against: plain data, so it can cross to a worker thread. */
export interface ReceiptCheck {
  /** In `ucan` mode a receipt must be signed by a trusted DID. */
  mode: AuthMode;
  /** DIDs whose signatures are accepted in `ucan` mode (the node's own among them). */
  trusted: readonly string[];
}

/**
 * The engine's seam (`NodeInit.authority`): who may run what, and who signed what.
 * Built by {@link createAuthority}; the engine calls it and knows nothing of UCAN.
 */
export interface Authority {
  /** This node's `did:key`. */
  readonly did: string;
  readonly mode: AuthMode;
  /**
   * Checks that every task of a workflow is covered by a proof (no-op in `open` mode).
   * `atMs` is the clock to check time bounds against (a submission read back from the log is
   * checked at its own time, so recovery reaches the same verdict).
   * @throws {AuthError} located by task index, instruction CID and proof
   */
  authorize(
    workflow: ParsedWorkflow,
    proofs: ProofMap | undefined,
    options?: { atMs?: number },
  ): void;
  /**
   * Checks that a proof grants cancelling `workflow` (a CID string): `workflow/cancel` on
   * `ipvm:workflow:<cid>` (`cancelRequirement` in `capability.ts`); no-op in `open` mode. A proof covering
   * the workflow's tasks does not cover this.
   * @throws {AuthError} located by workflow and proof
   */
  authorizeCancel(
    workflow: string,
    proofs: ProofMap | undefined,
    options?: { atMs?: number },
  ): void;
  /** The event with `iss` (this node's DID) and `sig` (Ed25519 over the receipt CID's bytes). */
  sign<E extends ReceiptEvent>(event: E): Promise<E>;
  /**
   * Verifies a receipt event that arrived from elsewhere: its CID is that of its body, and its
   * signature holds (and, in `ucan` mode, is present and by a trusted DID).
   * @returns the reason to refuse it, or undefined
   */
  verifyForeign(event: ReceiptEvent): ReceiptVerificationError | undefined;
  /**
   * The rules {@link Authority.verifyForeign} applies, as plain data: the table indexer verifies
   * receipts with them (`verifyReceiptEvent`), on its map workers too.
   */
  readonly receiptCheck: ReceiptCheck;
}
