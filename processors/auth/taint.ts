/**
 * Secret taint. A task argument `{"secret": "NAME"}` names a node-local secret; that task and
 * every task downstream of it (through `await/*` links, inside the workflow or onto an
 * instruction tainted earlier on this node) are tainted by NAME. A workflow with a tainted task
 * is *node-local*: it runs on a node-local log (see `local-node.ts`), so its submission, ready
 * tasks, receipts and outputs never reach a shared stream, the tables, a CAR export or another
 * node.
 *
 * @module
 */
import type { IpldValue } from '../../schemas/ipld.ts';
import { isIpldMap } from '../../schemas/ipld.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import { SchemaError } from '../../schemas/errors.ts';
import { SecretError } from './errors.ts';
import type { SecretStore } from './secrets.ts';

/** The name of a `{"secret": "NAME"}` argument, or undefined. */
export function secretName(value: unknown): string | undefined {
  if (!isIpldMap(value)) return undefined;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === 'secret' && typeof value.secret === 'string'
    ? value.secret
    : undefined;
}

/** Every secret named anywhere in `value`. */
export function secretsIn(value: unknown, out = new Set<string>()): Set<string> {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    const name = secretName(v);
    if (name !== undefined) out.add(name);
    else if (Array.isArray(v)) stack.push(...(v as unknown[]));
    else if (isIpldMap(v)) stack.push(...Object.values(v));
  }
  return out;
}

/** `value` with every `{"secret": NAME}` replaced by the secret's value. */
export function resolveSecrets(value: IpldValue, lookup: (name: string) => string): IpldValue {
  const name = secretName(value);
  if (name !== undefined) return lookup(name);
  if (Array.isArray(value)) return value.map((v) => resolveSecrets(v, lookup));
  if (isIpldMap(value)) {
    const out: Record<string, IpldValue> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveSecrets(v, lookup);
    return out;
  }
  return value;
}

/**
 * A secret's value shorter than this is not looked for in a task's URL: it would match URLs
 * by chance (`v` is in `evil.example`).
 */
const URL_MATCH_MIN = 6;

/** Managed and pure effects that send data to a host. */
const SENDS_TO_HOST = /^http\//;

/**
 * Where an effect's input names a secret other than where it may: a header's value
 * (`input.headers.NAME` itself `{"secret": …}`) or anywhere in `input.body`. Those are kept as
 * references until the request is sent; anywhere else — the URL above all — the value would
 * be recorded in the clear. Returns the first such field, or undefined.
 */
function misplacedSecret(input: IpldValue): { field: string; name: string } | undefined {
  const first = (v: unknown): string | undefined => secretsIn(v).values().next().value;
  const direct = secretName(input);
  if (direct !== undefined) return { field: 'input', name: direct };
  if (!isIpldMap(input)) return undefined;
  for (const [k, v] of Object.entries(input)) {
    if (k === 'body') continue;
    if (k === 'headers' && isIpldMap(v)) {
      for (const [h, hv] of Object.entries(v)) {
        const name = secretName(hv) === undefined ? first(hv) : undefined;
        if (name !== undefined) return { field: `input.headers.${h}`, name };
      }
      continue;
    }
    const name = first(v);
    if (name !== undefined) return { field: `input.${k}`, name };
  }
  return undefined;
}

/** Which tasks of workflows are tainted, by which secrets; remembered across workflows. */
export interface TaintTracker {
  /**
   * The tainted tasks of a workflow (index → secret names); empty when it uses no secret.
   * @throws {SecretError} a secret this node does not hold, or a tainted value sent by an
   *   effect to a host not allowed for one of its secrets (located by task and instruction)
   */
  analyse(workflow: ParsedWorkflow, inherited?: ReadonlySet<string>): Map<number, Set<string>>;
  /**
   * Screens the follow-up workflow a tainted result asks for (its `fx`): its tasks inherit the
   * taint of the instruction that asked, so an effect may only go to a host every inherited
   * secret is allowed to go to. Undefined when `cause` is not tainted; else why it is refused,
   * or the follow-up's tainted instructions (tainted from then on).
   */
  screenFollowUp(
    workflow: IpldValue,
    cause: string,
  ):
    | { refused: string }
    | { workflow: string; tainted: Map<string, ReadonlySet<string>> }
    | undefined;
  /** True when the instruction is tainted (its receipt is node-local). */
  isTainted(instruction: string): boolean;
}

/**
 * Creates a tracker over a secret store; `known` are instructions tainted before this start
 * (the taint ledger's), so a workflow awaiting one stays node-local after a restart.
 */
export function createTaintTracker(
  store: SecretStore,
  known?: ReadonlyMap<string, ReadonlySet<string>>,
): TaintTracker {
  const tainted = new Map<string, ReadonlySet<string>>(known);
  const tracker: TaintTracker = {
    analyse(workflow, inherited) {
      const byTask = new Map<number, Set<string>>();
      for (const i of workflow.order) {
        const t = workflow.tasks[i]!;
        const names = secretsIn(t.task.run.input);
        for (const n of inherited ?? []) names.add(n);
        for (const d of t.dependsOn) for (const n of byTask.get(d) ?? []) names.add(n);
        for (const a of t.awaits)
          for (const n of tainted.get(a.instruction.toString()) ?? []) names.add(n);
        if (names.size === 0) continue;
        const where = `task ${i} (instruction ${t.instruction.toString()})`;
        const { rsc, op, input } = t.task.run;
        const misplaced = SENDS_TO_HOST.test(op) ? misplacedSecret(input) : undefined;
        if (misplaced !== undefined)
          throw new SecretError(
            `${where}: ${misplaced.field} names secret ${JSON.stringify(misplaced.name)}; an effect carries a secret only as a header value or in its body, never in its URL or other fields`,
          );
        for (const n of names) {
          const value = store.has(n) ? store.get(n).value : '';
          if (value.length >= URL_MATCH_MIN && rsc.includes(value))
            throw new SecretError(
              `${where}: run.rsc holds the value of secret ${JSON.stringify(n)}; a secret never goes in a URL`,
            );
        }
        for (const n of names) {
          if (!store.has(n))
            throw new SecretError(`${where}: no secret named ${JSON.stringify(n)} on this node`);
          if (SENDS_TO_HOST.test(op)) {
            let host: string;
            try {
              host = new URL(rsc).host;
            } catch {
              host = rsc;
            }
            if (!store.get(n).allowHosts.includes(host))
              throw new SecretError(
                `${where}: ${op} to ${host} would send a value derived from secret ${JSON.stringify(n)}, which is not allowed to go there (ipvm secret set ${n} --allow-host ${host})`,
              );
          }
        }
        byTask.set(i, names);
      }
      for (const [i, names] of byTask)
        tainted.set(workflow.tasks[i]!.instruction.toString(), names);
      return byTask;
    },
    isTainted: (instruction) => tainted.has(instruction),
    screenFollowUp(workflow, cause) {
      const names = tainted.get(cause);
      if (names === undefined) return undefined;
      try {
        const parsed = parseWorkflow(workflow);
        const byTask = tracker.analyse(parsed, names);
        const instructions = new Map<string, ReadonlySet<string>>();
        for (const [i, n] of byTask) instructions.set(parsed.tasks[i]!.instruction.toString(), n);
        return { workflow: parsed.cid.toString(), tainted: instructions };
      } catch (err) {
        if (err instanceof SecretError || err instanceof SchemaError)
          return { refused: err.message };
        throw err;
      }
    },
  };
  return tracker;
}
