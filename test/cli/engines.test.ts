// The supported Node is what package.json's `engines` says: npm warns (EBADENGINE) when an
// installed package asks for more, so the lowest supported version must satisfy every locked
// package's own `engines.node`, and `ipvm` must refuse to start below that same version.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
type Version = [number, number, number];

/**
 * Whether `v` satisfies an npm range of the forms lock files hold (`>=x.y`, `^x.y.z`, bare `x`,
 * `x.*`, `*`, space-joined comparators, `||`). The project does not depend on `semver`, and these
 * forms are all a lock file's `engines` use.
 */
function satisfies(v: Version, range: string): boolean {
  return range.split('||').some((set) =>
    set
      .trim()
      .replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1')
      .split(/\s+/)
      .every((c) => comparator(v, c)),
  );
}

function comparator(v: Version, c: string): boolean {
  if (c === '' || c === '*' || c === 'x') return true;
  const m = /^(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(c);
  if (m === null) throw new Error(`unsupported range ${c}`);
  const [, op = '', a] = m;
  const [b, p] = [m[3], m[4]].map((n) => (n === 'x' || n === '*' ? undefined : n));
  const lo: Version = [Number(a), Number(b ?? 0), Number(p ?? 0)];
  const cmp = compare(v, lo);
  if (op === '>=') return cmp >= 0;
  if (op === '>') return cmp > 0;
  if (op === '<') return cmp < 0;
  if (op === '<=') return cmp <= 0;
  // a range with an upper bound: ^, ~, = or bare (x, x.y and x.y.z)
  let hi: Version;
  if (op === '^') hi = lo[0] > 0 || b === undefined ? [lo[0] + 1, 0, 0] : [0, lo[1] + 1, 0];
  else if (b === undefined) hi = [lo[0] + 1, 0, 0];
  else if (op === '~' || p === undefined) hi = [lo[0], lo[1] + 1, 0];
  else return cmp === 0;
  return cmp >= 0 && compare(v, hi) < 0;
}

function compare(x: Version, y: Version): number {
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
};
const lowest = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines.node);

describe('the supported Node', () => {
  it('reads the ranges lock files use', () => {
    expect(satisfies([22, 18, 0], '>=22.19.0')).toBe(false);
    expect(satisfies([22, 19, 0], '>= 22.19')).toBe(true);
    expect(satisfies([22, 12, 0], '^20.19.0 || ^22.13.0 || >=24')).toBe(false);
    expect(satisfies([22, 13, 1], '^20.19.0 || ^22.13.0 || >=24')).toBe(true);
    expect(satisfies([14, 16, 0], '>=16 || 14 >=14.17')).toBe(false);
    expect(satisfies([14, 17, 0], '>=16 || 14 >=14.17')).toBe(true);
    expect(satisfies([23, 0, 0], '18 || 20 || 22')).toBe(false);
    expect(satisfies([0, 5, 1], '^0.4.2')).toBe(false);
    expect(satisfies([22, 0, 0], '>=22.x')).toBe(true);
  });

  it('is a lower bound that satisfies every locked package, so npm never warns EBADENGINE', () => {
    expect(lowest, pkg.engines.node).not.toBeNull();
    const v = lowest!.slice(1).map(Number) as Version;
    const wanting = Object.entries(lock.packages)
      .filter(([, p]) => {
        const node = Array.isArray(p.engines) ? undefined : p.engines?.node;
        return node !== undefined && !satisfies(v, node);
      })
      .map(
        ([path, p]) => `${path || '(root)'}@${p.version} wants node ${JSON.stringify(p.engines)}`,
      );
    expect(wanting).toEqual([]);
  });

  it('is where cli/bin.js draws the line', () => {
    const bin = readFileSync(join(root, 'cli', 'bin.js'), 'utf8');
    const m = /major < (\d+) \|\| \(major === (\d+) && minor < (\d+)\)/.exec(bin);
    expect(m?.slice(1)).toEqual([lowest![1], lowest![1], lowest![2]]);
  });
});
