// Values attached to objects under a private symbol (schemas/attached.ts): what a WeakMap keyed
// by the object held, invisible to copies, encoders and equality.
import { describe, expect, it } from 'vitest';
import { attached } from '../../schemas/attached.ts';
import { dagCbor, dagJson, knownEncoding, rememberEncoding } from '../../schemas/codecs.ts';
import { isParsedWorkflow, parseWorkflow } from '../../schemas/model.ts';

describe('attached', () => {
  it('keeps a value per object, out of sight of copies, keys, JSON and equality', () => {
    const notes = attached<string>('note');
    const o = { a: 1 };
    expect(notes.get(o)).toBeUndefined();
    expect(notes.has(o)).toBe(false);
    notes.set(o, 'first');
    notes.set(o, 'second'); // replaced
    expect(notes.get(o)).toBe('second');
    expect(notes.has(o)).toBe(true);
    expect(Object.keys(o)).toEqual(['a']);
    expect(JSON.stringify(o)).toBe('{"a":1}');
    expect(o).toEqual({ a: 1 });
    expect({ a: 1 }).toEqual(o);
    expect(notes.get({ ...o })).toBeUndefined();
    // Another key sees nothing of it.
    expect(attached<string>('note').get(o)).toBeUndefined();
  });

  it('leaves an object that cannot take a property as it is', () => {
    const notes = attached<number>('n');
    const frozen = Object.freeze({ a: 1 });
    notes.set(frozen, 1);
    expect(notes.get(frozen)).toBeUndefined();
    expect(notes.has(frozen)).toBe(false);
    const sealed = Object.seal({ b: 2 });
    notes.set(sealed, 2);
    expect(notes.get(sealed)).toBeUndefined();
    // Attached before it was frozen: kept, and still replaceable.
    const later = { c: 3 };
    notes.set(later, 3);
    Object.freeze(later);
    expect(notes.get(later)).toBe(3);
  });

  it('carries a known encoding that encoders copy and do not write as a field', () => {
    const inner = { x: 1 };
    const bytes = dagCbor.encode({ x: 1 });
    rememberEncoding(inner, bytes);
    expect(knownEncoding(inner)).toBe(bytes);
    expect(dagCbor.encode({ inner })).toEqual(dagCbor.encode({ inner: { x: 1 } }));
    expect(dagJson.stringify({ inner })).toBe('{"inner":{"x":1}}');
    expect(knownEncoding({ ...inner })).toBeUndefined();
  });

  it('marks what parseWorkflow returned, not a copy of it', () => {
    const parsed = parseWorkflow({
      tasks: [
        {
          run: {
            rsc: 'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu',
            op: 'wasm/run',
            input: { func: 'f', args: [1] },
            nnc: '',
          },
          meta: {},
          prf: [],
          cause: null,
        },
      ],
    });
    expect(isParsedWorkflow(parsed)).toBe(true);
    expect(isParsedWorkflow({ ...parsed })).toBe(false);
    expect(Object.keys(parsed)).not.toContain('parsed workflow');
  });
});
