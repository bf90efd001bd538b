/**
 * The JSON-RPC side of cancelling a workflow, shared by `ipvm_cancel` (the CLI's remote mode)
 * and `console_cancel` (the console, actions only).
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { WorkflowNotRunningError } from '../engine/cancel.ts';
import type { IpvmNode } from '../engine/node.ts';
import type { ProofMap } from '../auth/types.ts';
import { RPC_ERROR, RpcError } from './errors.ts';
import { isAuthRefusal } from './rpc.ts';

/** What a cancel request answers: the request was appended; the end follows. */
export interface Cancelled {
  workflow: string;
  cancelled: true;
}

/**
 * Cancels `workflow` (a CID string, read from `field`) on `node`. `proofs` (a list of UCAN
 * tokens, read from `proofsField`) grant `workflow/cancel` on `ipvm:workflow:<cid>`; a node in
 * `ucan` mode refuses a cancel without them.
 * @throws {RpcError} invalid params for a bad CID or proofs, or a workflow ended or unknown
 *   (`data.state`); unauthorized (-32001, `data: {rule, workflow, proof?}`) for a refused proof
 */
export async function cancelOverRpc(
  node: IpvmNode,
  workflow: unknown,
  field: string,
  reason: string | null,
  proofs?: { value: unknown; field: string },
): Promise<Cancelled> {
  let cid: CID;
  try {
    if (typeof workflow !== 'string') throw new Error('not a string');
    cid = CID.parse(workflow);
  } catch (err) {
    throw new RpcError(RPC_ERROR.invalidParams, `${field}: expected a CID string`, { cause: err });
  }
  const tokens = proofList(proofs);
  try {
    await node.cancel(cid, { reason, proofs: tokens });
  } catch (err) {
    if (isAuthRefusal(err))
      throw new RpcError(RPC_ERROR.unauthorized, `not authorized: ${err.message}`, {
        cause: err,
        data: { rule: err.rule, ...err.location, workflow: cid.toString() },
      });
    if (!(err instanceof WorkflowNotRunningError)) throw err;
    throw new RpcError(RPC_ERROR.invalidParams, err.message, {
      cause: err,
      data: { workflow: err.workflow, state: err.state },
    });
  }
  return { workflow: cid.toString(), cancelled: true };
}

/** A list of token strings as a proof map (keys are positions: the authority renames them). */
function proofList(proofs: { value: unknown; field: string } | undefined): ProofMap | undefined {
  if (proofs?.value === undefined || proofs.value === null) return undefined;
  const { value, field } = proofs;
  if (!Array.isArray(value) || value.some((t) => typeof t !== 'string'))
    throw new RpcError(RPC_ERROR.invalidParams, `${field}: expected a list of UCAN tokens`);
  return Object.fromEntries((value as string[]).map((t, i) => [`#${i}`, t]));
}
