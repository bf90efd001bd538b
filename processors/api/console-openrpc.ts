// The console's methods in the OpenRPC document (see console-rpc.ts for their shapes).
const obj = { type: 'object' } as const;
const byName = 'by-name' as const;

function method(
  name: string,
  description: string,
  params: Array<{ name: string; required?: boolean; schema: Record<string, unknown> }>,
  result: Record<string, unknown> = obj,
): Record<string, unknown> {
  return {
    name,
    description,
    paramStructure: byName,
    params,
    result: { name: 'result', schema: result },
  };
}

const str = { type: 'string' } as const;

/** Descriptors of the `console_*` methods, served when the console is on. */
export const CONSOLE_METHODS: ReadonlyArray<Record<string, unknown>> = [
  method(
    'console_workflows',
    'Workflows the console knows, newest first, filtered by status and name or CID substring',
    [
      { name: 'status', schema: { enum: ['running', 'completed', 'failed', ''] } },
      { name: 'name', schema: str },
      { name: 'limit', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
    ],
    { type: 'array', items: obj },
  ),
  method('console_workflow', 'One workflow: summary, tasks with their state, kind and layout', [
    { name: 'cid', required: true, schema: str },
  ]),
  method(
    'console_task',
    'One task: instruction, arguments with awaits resolved, receipt, output view, error',
    [
      { name: 'workflow', required: true, schema: str },
      { name: 'index', required: true, schema: { type: 'integer', minimum: 0 } },
    ],
  ),
  method(
    'console_node',
    'Streams and offsets, consumer lag, memo, task rates, executor use, dead letters',
    [],
  ),
  method(
    'console_memo_search',
    'Memo hits by instruction, receipt or output CID, or function name (memo or tables)',
    [{ name: 'query', required: true, schema: str }],
  ),
  method(
    'console_subscribe',
    'Subscribes to coalesced change notifications (WebSocket only)',
    [],
    str,
  ),
  method(
    'console_unsubscribe',
    'Ends a console subscription',
    [{ name: 'id', required: true, schema: str }],
    {
      type: 'boolean',
    },
  ),
  method(
    'console_submit',
    'Submits a workflow given as DAG-JSON text (only with --console-actions)',
    [
      { name: 'workflow', required: true, schema: str },
      { name: 'name', schema: str },
    ],
  ),
  method(
    'console_rerun',
    'Re-runs a workflow, replayed from the memo or with fresh nonces (only with --console-actions)',
    [
      { name: 'cid', required: true, schema: str },
      { name: 'mode', schema: { enum: ['replay', 'nonce'] } },
    ],
  ),
  method(
    'console_cancel',
    'Cancels a running workflow: nothing more is released, running tasks finish, it ends failed (only with --console-actions)',
    [
      { name: 'cid', required: true, schema: str },
      { name: 'reason', schema: str },
      // In ucan mode: tokens granting workflow/cancel on ipvm:workflow:<cid>.
      { name: 'proofs', schema: { type: 'array', items: str } },
    ],
  ),
];
