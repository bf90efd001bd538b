// Run by ready-later.test.ts as `node --expose-gc ready-later-child.ts`: whether ready-later
// still holds a task's event once the task is settled (its receipt computed), well before the
// record would have been due. Prints one line of JSON.
import { createReadyLater } from '../../processors/engine/ready-later.ts';
import type { TaskReadyEvent } from '../../schemas/events.ts';

const collect = (globalThis as { gc?: () => void }).gc!;
const later = createReadyLater(
  60_000,
  () => {},
  () => true,
);
const instruction = 'bafyinstruction';
/** Holds one task/ready event; only the returned WeakRef refers to it afterwards. */
function holdOne(): WeakRef<TaskReadyEvent> {
  const event = {
    type: 'task/ready',
    instruction: { toString: () => instruction },
    workflow: null,
  } as unknown as TaskReadyEvent;
  later.hold(event);
  return new WeakRef(event);
}
const ref = holdOne();
later.settle(instruction);
await new Promise((resolve) => setTimeout(resolve, 0)); // (a WeakRef holds for the current job)
collect();
console.log(JSON.stringify({ held: later.size, released: ref.deref() === undefined }));
later.close();
