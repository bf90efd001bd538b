// Which workflows the engine remembers as authorized (`Core.authorized`): in `ucan` mode those
// whose proofs covered them (the executor runs a task/ready read from the log only for them);
// in `open` mode, where nothing is checked, none. Every submission used to be remembered in
// `open` mode too, for the life of the process: a third of what each workflow left behind.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import { createCore, type Core } from '../../processors/engine/core.ts';
import { createAuthority } from '../../processors/auth/index.ts';
import { delegateJwt, jwtCid } from '../../processors/auth/jwt.ts';
import { generateIdentity } from '../../processors/auth/identity.ts';
import type { AuthMode } from '../../processors/auth/types.ts';
import type { WorkflowSubmittedEvent } from '../../schemas/events.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import { addOneTask } from '../conformance/engine.suite.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';

let dir: string;
let log: Log;
let runner: CoreRunner;
let core: Core | undefined;
const nodeKey = generateIdentity();
const root = generateIdentity(); // trusted by the node in `ucan` mode

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-authorized-'));
  log = createFileLog({ dir });
  runner = await createCoreRunner();
});
afterEach(async () => {
  core?.abort();
  core = undefined;
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

const open = async (mode: AuthMode): Promise<Core> =>
  (core = await createCore({
    log,
    runner,
    authority: createAuthority({ identity: nodeKey, mode, trust: [root.did] }),
  }));

/** A submission of `parsed` as read back from the stream. */
const submitted = (parsed: ParsedWorkflow, proofs?: Record<string, string>) =>
  ({
    type: 'workflow/submitted',
    workflow: parsed.cid,
    body: parsed.workflow,
    name: null,
    ...(proofs === undefined ? {} : { proofs }),
    at: Date.now(),
  }) as WorkflowSubmittedEvent;

/** root → the node: `wasm/run` on the test module. */
async function proof(): Promise<Record<string, string>> {
  const jwt = await delegateJwt({
    issuer: root,
    audience: nodeKey.did,
    with: runner.rsc,
    can: 'wasm/run',
    expiresInSeconds: 600,
  });
  return { [jwtCid(jwt)]: jwt };
}

describe('workflows remembered as authorized', () => {
  it('none in open mode, made here or read from the stream', async () => {
    const c = await open('open');
    const here = parseWorkflow({ tasks: [addOneTask(runner.rsc, 1)] });
    c.authorizeSubmission(here, undefined, Date.now());
    const read = parseWorkflow({ tasks: [addOneTask(runner.rsc, 2)] });
    expect(c.authorizeEvent(submitted(read))).toBeUndefined();
    expect(c.authorized.size).toBe(0);
  });

  it('in ucan mode, those whose proofs cover them, and no other', async () => {
    const c = await open('ucan');
    const here = parseWorkflow({ tasks: [addOneTask(runner.rsc, 1)] });
    const proofs = await proof();
    c.authorizeSubmission(here, proofs, Date.now());
    const read = parseWorkflow({ tasks: [addOneTask(runner.rsc, 2)] });
    expect(c.authorizeEvent(submitted(read, proofs))).toBeUndefined();
    const unproven = parseWorkflow({ tasks: [addOneTask(runner.rsc, 3)] });
    expect(() => c.authorizeSubmission(unproven, undefined, Date.now())).toThrow(
      expect.objectContaining({ name: 'AuthError' }),
    );
    const unprovenRead = parseWorkflow({ tasks: [addOneTask(runner.rsc, 4)] });
    expect(c.authorizeEvent(submitted(unprovenRead))).toMatchObject({ name: 'AuthError' });
    expect([...c.authorized].sort()).toEqual([here.cid.toString(), read.cid.toString()].sort());
  });
});
