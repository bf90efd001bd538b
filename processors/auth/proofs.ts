/**
 * Where proofs travel. A task names its proofs by CID in `prf`; the tokens themselves travel
 * beside the workflow, never inside it (so they are not part of any CID):
 *
 * - in a submission wrapper `{name, workflow, proofs: {CID: token}}` (a file given to
 *   `ipvm run`, the JSON-RPC `subscribe_run_workflow` parameter),
 * - as `ipvm run --proof TOKEN` (repeatable),
 * - on the `invocations` stream, in the `workflow/submitted` event's `proofs` map.
 *
 * A task whose `prf` is empty may use any proof supplied with its submission.
 *
 * @module
 */
import { AuthError } from './errors.ts';
import type { ProofMap } from './types.ts';

/**
 * The proofs of a submission: the wrapper's `proofs` (a list of tokens, or a map CID → token)
 * plus loose tokens. Keys are positional: the authority names each token by its own CID.
 * @throws {AuthError} `Malformed` for a value that is not a string
 */
export function readProofs(wrapper: unknown, tokens: readonly string[] = []): ProofMap | undefined {
  const out: ProofMap = {};
  let n = 0;
  const add = (token: unknown, where: string): void => {
    if (typeof token !== 'string')
      throw new AuthError('Malformed', 'expected a token string', { proof: where });
    out[`#${n++}`] = token;
  };
  const proofs =
    typeof wrapper === 'object' && wrapper !== null && !(wrapper instanceof Uint8Array)
      ? (wrapper as { proofs?: unknown }).proofs
      : undefined;
  if (Array.isArray(proofs)) proofs.forEach((t, i) => add(t, `proofs[${i}]`));
  else if (typeof proofs === 'object' && proofs !== null)
    for (const [k, t] of Object.entries(proofs)) add(t, `proofs.${k}`);
  tokens.forEach((t, i) => add(t, `--proof #${i + 1}`));
  return n === 0 ? undefined : out;
}
