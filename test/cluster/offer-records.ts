// Matchmaking fixtures shared by the matchmaker tests and the cluster bench: a placed ready task,
// and the records an owner appends to offer it and award it.
import type { AppendRecord } from '../../streams/log.ts';
import { encodeEvent, type TaskReadyEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';

/** The engine test module's address (any CID serves: nothing runs it here). */
export const RSC = 'ipfs://bafkreidsr2hsgtgmdy55skt5bfkb2jhkuaoa4ki6z4l3pvrr7tnfkqtyfq';

/** The `task/ready` event of a one-task workflow `add_one(arg)` with `meta`. */
export function readyEvent(arg: number, meta: IpldValue): TaskReadyEvent {
  const t: IpldValue = {
    run: { rsc: RSC, op: 'wasm/run', input: { func: 'add_one', args: [arg] }, nnc: '' },
    cause: null,
    meta,
    prf: [],
  };
  // Placement is checked at parse: build the parsed task from a clean meta, then put the meta.
  const parsed = parseWorkflow({ tasks: [{ ...(t as object), meta: {} }] });
  const p = parsed.tasks[0]!;
  return {
    type: 'task/ready',
    workflow: parsed.cid,
    instruction: p.instruction,
    invocation: p.invocation,
    task: { ...p.task, meta },
    args: [arg],
    at: 0,
  };
}

/** The offer id of a ready task (`<workflow>/<instruction>`). */
export const offerId = (event: TaskReadyEvent): string =>
  `${event.workflow!.toString()}/${event.instruction.toString()}`;

/** What owner `by` appends to offer `event` (round 0) and award it to `node`. */
export function offerAndAward(event: TaskReadyEvent, node: string, by: string): AppendRecord[] {
  const id = offerId(event);
  const task = Buffer.from(encodeEvent(event)).toString('base64');
  const json = (m: object): Uint8Array => new TextEncoder().encode(JSON.stringify(m));
  return [
    { key: id, value: json({ kind: 'offer', id, round: 0, by, task }) },
    { key: id, value: json({ kind: 'award', id, round: 0, node, by, fallback: false }) },
  ];
}
