/**
 * What a capability covers. A capability is `{with, can}`: a resource URI and an ability.
 *
 * - `with` covers a resource when equal, when it ends in `*` and the resource starts with what
 *   comes before (`ipfs://*`, `https://api.example.com/*`), or when it is `*`.
 * - `can` covers an ability when equal (case-insensitive, as UCAN 0.8 abilities are), when it
 *   is `*`, or when it ends in `/*` and the ability is in that namespace (`http/*` covers
 *   `http/get`).
 *
 * @module
 */

/** A resource and an ability. */
export interface Capability {
  with: string;
  can: string;
}

/** True when `pattern` (a capability's `with`) covers `resource`. */
export function resourceCovers(pattern: string, resource: string): boolean {
  if (pattern === '*' || pattern === resource) return true;
  return pattern.endsWith('*') && resource.startsWith(pattern.slice(0, -1));
}

/** True when `pattern` (a capability's `can`) covers `ability`. */
export function abilityCovers(pattern: string, ability: string): boolean {
  const p = pattern.toLowerCase();
  const a = ability.toLowerCase();
  if (p === '*' || p === a) return true;
  return p.endsWith('/*') && a.startsWith(p.slice(0, -1));
}

/** True when capability `outer` covers capability `inner` (resource and ability). */
export function covers(outer: Capability, inner: Capability): boolean {
  return resourceCovers(outer.with, inner.with) && abilityCovers(outer.can, inner.can);
}

/** The ability that cancels a workflow. */
export const CANCEL_ABILITY = 'workflow/cancel';

/**
 * What cancelling a workflow needs: `workflow/cancel` on `ipvm:workflow:<cid>` (a delegation
 * may cover every workflow with `ipvm:workflow:*`).
 */
export function cancelRequirement(workflow: string): { rsc: string; op: string } {
  return { rsc: `ipvm:workflow:${workflow}`, op: CANCEL_ABILITY };
}
