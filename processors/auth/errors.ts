/**
 * Errors of the authority layer. Every refusal is an {@link AuthError} named by the rule it
 * broke — the names of the UCAN conformance fixtures where one exists — and located: task
 * index, instruction CID, which proof. All are terminal (bad input, never retried).
 *
 * @module
 */

/** The rules a proof can break. */
export type AuthRule =
  /** No proof at all, a chain that does not reach a trusted root, or a null-subject root. */
  | 'InvalidClaim'
  /** A proof linked by a task (or an invocation) was not supplied. */
  | 'UnavailableProof'
  /** A token or a link in its chain expired at the node's clock. */
  | 'Expired'
  /** A token is not valid yet (`nbf` in the future). */
  | 'TooEarly'
  /** The token is not addressed to this node, or a link's issuer is not the previous audience. */
  | 'InvalidAudience'
  /** The subject differs along a UCAN 1.0 chain. */
  | 'InvalidSubject'
  /** A signature does not verify. */
  | 'InvalidSignature'
  /** A UCAN 1.0 policy does not match the invocation's arguments. */
  | 'MatchError'
  /** The capability does not cover the task's resource or ability (or a link widens it). */
  | 'Overreach'
  /** A proof in the chain was revoked. */
  | 'Revoked'
  /** A single-use invocation was already used for another workflow. */
  | 'Replayed'
  /** Not a token this node can read. */
  | 'Malformed';

/** Where a refusal happened. */
export interface AuthLocation {
  /** Index of the task in its workflow. */
  task?: number;
  /** Instruction CID of the task. */
  instruction?: string;
  /** Which proof (its CID or its position). */
  proof?: string;
  /** The workflow, for a refused cancel. */
  workflow?: string;
}

/** A refused proof or invocation. */
export class AuthError extends Error {
  override name = 'AuthError';
  readonly retryable = false;
  readonly rule: AuthRule;
  readonly location: AuthLocation;
  constructor(
    rule: AuthRule,
    message: string,
    location: AuthLocation = {},
    options?: ErrorOptions,
  ) {
    const where = [
      location.workflow === undefined ? undefined : `workflow ${location.workflow}`,
      location.task === undefined ? undefined : `task ${location.task}`,
      location.instruction === undefined ? undefined : `instruction ${location.instruction}`,
      location.proof === undefined ? undefined : `proof ${location.proof}`,
    ].filter((x) => x !== undefined);
    super(`${rule}: ${message}${where.length > 0 ? ` (${where.join(', ')})` : ''}`, options);
    this.rule = rule;
    this.location = location;
  }

  /** The same error located further (task index, instruction). */
  at(location: AuthLocation): AuthError {
    return new AuthError(
      this.rule,
      this.message.replace(/^\w+: /, '').replace(/ \([^()]*\)$/, ''),
      { ...this.location, ...location },
      { cause: this.cause },
    );
  }
}

/** A string that is not an Ed25519 `did:key`. */
export class InvalidDidError extends Error {
  override name = 'InvalidDidError';
  readonly retryable = false;
  readonly did: string;
  constructor(did: string, reason: string, options?: ErrorOptions) {
    super(`invalid DID ${JSON.stringify(did.slice(0, 80))}: ${reason}`, options);
    this.did = did;
  }
}

/** A receipt from elsewhere whose signature or CID does not hold. */
export class ReceiptVerificationError extends Error {
  override name = 'ReceiptVerificationError';
  readonly retryable = false;
  readonly receipt: string;
  readonly instruction: string;
  constructor(receipt: string, instruction: string, reason: string) {
    super(`receipt ${receipt} of instruction ${instruction} refused: ${reason}`);
    this.receipt = receipt;
    this.instruction = instruction;
  }
}

/** A secret named by a task is not in this node's store, or may not go where it is sent. */
export class SecretError extends Error {
  override name = 'SecretError';
  readonly retryable = false;
}
