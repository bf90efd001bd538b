/**
 * Effects emitted by Wasm (the "legal escape hatch"): a `wasm/run` result that is a map with an
 * `fx` list asks the host for effects. Each item is an effect instruction — a map
 * `{rsc, op, input, nnc?}` or its DAG-JSON text (what a component returning `list<string>` can
 * produce). The node submits them as a follow-up workflow whose tasks have `cause` = the CID of
 * the receipt that asked for them, before that receipt is written; the follow-up's CID is a
 * function of the receipt, so a crash in between submits the same workflow again, which runs
 * once. The follow-up runs on the same node under the same allow-list; only effect ops may be
 * asked for.
 *
 * @module
 */
import { dagJson } from '../../schemas/codecs.ts';
import type { ReceiptEvent } from '../../schemas/events.ts';
import { isIpldMap, type IpldValue } from '../../schemas/ipld.ts';
import { parseInstruction, WASM_RUN } from '../../schemas/model.ts';
import { isEffectOp } from './ops.ts';

/** Most effects one result may ask for. */
export const MAX_EMITTED_EFFECTS = 64;

/** What a receipt asks for: nothing, a follow-up workflow, or a located reason it cannot. */
export type Emitted = null | { workflow: IpldValue } | { error: string };

/** The follow-up workflow a fresh `wasm/run` receipt asks for, if any. */
export function emittedWorkflow(receipt: ReceiptEvent): Emitted {
  if (receipt.replayed || receipt.run.op !== WASM_RUN) return null;
  const [kind, value] = receipt.body.out;
  if (kind !== 'ok' || !isIpldMap(value) || !('fx' in value)) return null;
  const where = `receipt ${receipt.receipt.toString()} (task ${receipt.instruction.toString()}): fx`;
  const fx = value.fx;
  if (!Array.isArray(fx)) return { error: `${where}: expected a list of effect instructions` };
  if (fx.length === 0) return null;
  if (fx.length > MAX_EMITTED_EFFECTS)
    return { error: `${where}: ${fx.length} effects, more than ${MAX_EMITTED_EFFECTS}` };
  const tasks: IpldValue[] = [];
  for (let i = 0; i < fx.length; i++) {
    let item = fx[i];
    try {
      if (typeof item === 'string') item = dagJson.decode(new TextEncoder().encode(item));
      const run = parseInstruction(item, `fx[${i}]`);
      if (!isEffectOp(run.op))
        return {
          error: `${where}[${i}].op: ${run.op} is not an effect (Wasm may ask only for effects)`,
        };
      tasks.push({
        run: { rsc: run.rsc, op: run.op, input: run.input, nnc: run.nnc },
        cause: receipt.receipt,
        meta: {},
        prf: [],
      });
    } catch (err) {
      return { error: `${where}[${i}]: ${(err as Error).message}` };
    }
  }
  return { workflow: { name: `fx of ${receipt.receipt.toString()}`, workflow: { tasks } } };
}
