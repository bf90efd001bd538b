/**
 * The JSON-RPC side of cancelling a workflow, shared by `ipvm_cancel` (the CLI's remote mode)
 * and `console_cancel` (the console, actions only).
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { WorkflowNotRunningError } from '../engine/cancel.ts';
import type { IpvmNode } from '../engine/node.ts';
import { RPC_ERROR, RpcError } from './errors.ts';

/** What a cancel request answers: the request was appended; the end follows. */
export interface Cancelled {
  workflow: string;
  cancelled: true;
}

/**
 * Cancels `workflow` (a CID string, read from `field`) on `node`.
 * @throws {RpcError} invalid params for a bad CID, or a workflow ended or unknown (`data.state`)
 */
export async function cancelOverRpc(
  node: IpvmNode,
  workflow: unknown,
  field: string,
  reason: string | null,
): Promise<Cancelled> {
  let cid: CID;
  try {
    if (typeof workflow !== 'string') throw new Error('not a string');
    cid = CID.parse(workflow);
  } catch (err) {
    throw new RpcError(RPC_ERROR.invalidParams, `${field}: expected a CID string`, { cause: err });
  }
  try {
    await node.cancel(cid, { reason });
  } catch (err) {
    if (!(err instanceof WorkflowNotRunningError)) throw err;
    throw new RpcError(RPC_ERROR.invalidParams, err.message, {
      cause: err,
      data: { workflow: err.workflow, state: err.state },
    });
  }
  return { workflow: cid.toString(), cancelled: true };
}
