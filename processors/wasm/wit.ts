// A reader for the WIT text jco prints for a component's world (`componentWit`): the world's
// own type definitions and its root-level function exports and imports. Types that come from
// other interfaces through `use` and resources are kept as `unsupported` (their values cannot be
// mapped from IPLD).

export type WitPrimitive =
  | 'bool'
  | 's8'
  | 's16'
  | 's32'
  | 's64'
  | 'u8'
  | 'u16'
  | 'u32'
  | 'u64'
  | 'f32'
  | 'f64'
  | 'char'
  | 'string';

/** A resolved WIT type, as plain data (it crosses worker boundaries). */
export type WitType =
  | { kind: WitPrimitive }
  | { kind: 'list'; elem: WitType }
  | { kind: 'option'; inner: WitType }
  | { kind: 'result'; ok?: WitType; err?: WitType }
  | { kind: 'tuple'; items: WitType[] }
  | { kind: 'record'; name: string; fields: { name: string; type: WitType }[] }
  | { kind: 'variant'; name: string; cases: { name: string; type?: WitType }[] }
  | { kind: 'enum'; name: string; cases: string[] }
  | { kind: 'flags'; name: string; flags: string[] }
  | { kind: 'unsupported'; name: string };

/** A function of the world. */
export interface WitFunction {
  /** WIT name (kebab-case). */
  name: string;
  params: { name: string; type: WitType }[];
  result?: WitType;
}

export interface WitWorld {
  exports: WitFunction[];
  /** Imported interfaces (`ns:pkg/iface@version`) and root-level imported functions. */
  imports: string[];
}

const PRIMITIVES = new Set<string>([
  'bool',
  's8',
  's16',
  's32',
  's64',
  'u8',
  'u16',
  'u32',
  'u64',
  'f32',
  'f64',
  'char',
  'string',
]);
const ALIASES: Record<string, WitPrimitive> = { float32: 'f32', float64: 'f64' };

type Raw =
  | { kind: 'ref'; name: string }
  | { kind: WitPrimitive }
  | { kind: 'list'; elem: Raw }
  | { kind: 'option'; inner: Raw }
  | { kind: 'result'; ok?: Raw; err?: Raw }
  | { kind: 'tuple'; items: Raw[] }
  | { kind: 'record'; name: string; fields: { name: string; type: Raw }[] }
  | { kind: 'variant'; name: string; cases: { name: string; type?: Raw }[] }
  | { kind: 'enum'; name: string; cases: string[] }
  | { kind: 'flags'; name: string; flags: string[] }
  | { kind: 'unsupported'; name: string };

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /\s+|\/\/[^\n]*|\/\*[\s\S]*?\*\/|->|[{}()<>,:;=.@/*_]|%?[A-Za-z0-9][A-Za-z0-9-]*/y;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    m = re.exec(text);
    if (!m) throw new Error(`WIT: unexpected character ${JSON.stringify(text[pos])} at ${pos}`);
    pos = re.lastIndex;
    const t = m[0];
    if (/^\s/.test(t) || t.startsWith('//') || t.startsWith('/*')) continue;
    tokens.push(t);
  }
  return tokens;
}

const unescape = (id: string): string => (id.startsWith('%') ? id.slice(1) : id);

class Parser {
  private i = 0;
  private readonly t: string[];
  constructor(tokens: string[]) {
    this.t = tokens;
  }
  peek(o = 0): string | undefined {
    return this.t[this.i + o];
  }
  next(): string {
    const v = this.t[this.i++];
    if (v === undefined) throw new Error('WIT: unexpected end');
    return v;
  }
  expect(v: string): void {
    const got = this.next();
    if (got !== v) throw new Error(`WIT: expected ${v}, got ${got}`);
  }
  eat(v: string): boolean {
    if (this.peek() === v) {
      this.i++;
      return true;
    }
    return false;
  }
  done(): boolean {
    return this.i >= this.t.length;
  }
  /** Skip a balanced `{ … }` block (the opening brace is next). */
  skipBlock(): void {
    this.expect('{');
    let depth = 1;
    while (depth > 0) {
      const v = this.next();
      if (v === '{') depth++;
      else if (v === '}') depth--;
    }
  }
  /** Skip to just after the next `;` at this nesting level. */
  skipStatement(): void {
    let depth = 0;
    for (;;) {
      const v = this.next();
      if (v === '{') depth++;
      else if (v === '}') depth--;
      else if (v === ';' && depth === 0) return;
    }
  }
  /** An interface path like `ns:pkg/iface@1.2.3`, or a plain name. */
  path(): string {
    let s = unescape(this.next());
    while (
      this.peek() === ':' ||
      this.peek() === '/' ||
      this.peek() === '@' ||
      this.peek() === '.'
    ) {
      if (this.peek() === '.' && this.peek(1) === '{') break;
      s += this.next();
      s += unescape(this.next());
    }
    return s;
  }
  type(): Raw {
    const head = this.next();
    if (head === '_') return { kind: 'unsupported', name: '_' };
    if (PRIMITIVES.has(head)) return { kind: head as WitPrimitive };
    if (ALIASES[head]) return { kind: ALIASES[head] };
    switch (head) {
      case 'list': {
        this.expect('<');
        const elem = this.type();
        if (this.eat(',')) this.next();
        this.expect('>');
        return { kind: 'list', elem };
      }
      case 'option': {
        this.expect('<');
        const inner = this.type();
        this.expect('>');
        return { kind: 'option', inner };
      }
      case 'result': {
        if (!this.eat('<')) return { kind: 'result' };
        const okT = this.peek() === '_' ? (this.next(), undefined) : this.type();
        const errT = this.eat(',') ? this.type() : undefined;
        this.expect('>');
        const r: { kind: 'result'; ok?: Raw; err?: Raw } = { kind: 'result' };
        if (okT) r.ok = okT;
        if (errT) r.err = errT;
        return r;
      }
      case 'tuple': {
        this.expect('<');
        const items: Raw[] = [];
        do items.push(this.type());
        while (this.eat(','));
        this.expect('>');
        return { kind: 'tuple', items };
      }
      case 'borrow':
      case 'own':
      case 'future':
      case 'stream': {
        if (this.eat('<')) {
          this.type();
          this.expect('>');
        }
        return { kind: 'unsupported', name: head };
      }
      default:
        return { kind: 'ref', name: unescape(head) };
    }
  }
  func(name: string): { name: string; params: { name: string; type: Raw }[]; result?: Raw } {
    this.eat('async');
    this.expect('func');
    this.expect('(');
    const params: { name: string; type: Raw }[] = [];
    while (!this.eat(')')) {
      const pname = unescape(this.next());
      this.expect(':');
      params.push({ name: pname, type: this.type() });
      this.eat(',');
    }
    let result: Raw | undefined;
    if (this.eat('->')) {
      if (this.peek() === '(') {
        // named results (old syntax): only a single one is mappable
        this.next();
        const named: Raw[] = [];
        while (!this.eat(')')) {
          this.next();
          this.expect(':');
          named.push(this.type());
          this.eat(',');
        }
        result = named.length === 1 ? named[0] : { kind: 'tuple', items: named };
      } else result = this.type();
    }
    this.expect(';');
    return result ? { name, params, result } : { name, params };
  }
}

/** Parse the WIT of a component's world (as printed by jco's `componentWit`). */
export function parseWorld(text: string): WitWorld {
  const p = new Parser(tokenize(text));
  const defs = new Map<string, Raw>();
  const exports: { name: string; params: { name: string; type: Raw }[]; result?: Raw }[] = [];
  const imports: string[] = [];
  // find `world <name> {`
  while (!p.done() && p.peek() !== 'world') p.next();
  if (p.done()) throw new Error('WIT: no world');
  p.next();
  p.next();
  p.expect('{');
  while (!p.eat('}')) {
    const kw = p.next();
    if (kw === 'import' || kw === 'export') {
      if (p.peek(1) === ':' && (p.peek(2) === 'func' || p.peek(2) === 'async')) {
        const name = unescape(p.next());
        p.expect(':');
        const f = p.func(name);
        if (kw === 'export') exports.push(f);
        else imports.push(name);
      } else if (p.peek(1) === ':' && p.peek(2) === 'interface') {
        const name = unescape(p.next());
        p.next();
        p.next();
        p.skipBlock();
        if (kw === 'import') imports.push(name);
      } else {
        const path = p.path();
        p.expect(';');
        if (kw === 'import') imports.push(path);
      }
    } else if (kw === 'record') {
      const name = unescape(p.next());
      p.expect('{');
      const fields: { name: string; type: Raw }[] = [];
      while (!p.eat('}')) {
        const fname = unescape(p.next());
        p.expect(':');
        fields.push({ name: fname, type: p.type() });
        p.eat(',');
      }
      defs.set(name, { kind: 'record', name, fields });
    } else if (kw === 'variant') {
      const name = unescape(p.next());
      p.expect('{');
      const cases: { name: string; type?: Raw }[] = [];
      while (!p.eat('}')) {
        const cname = unescape(p.next());
        if (p.eat('(')) {
          cases.push({ name: cname, type: p.type() });
          p.expect(')');
        } else cases.push({ name: cname });
        p.eat(',');
      }
      defs.set(name, { kind: 'variant', name, cases });
    } else if (kw === 'enum' || kw === 'flags') {
      const name = unescape(p.next());
      p.expect('{');
      const cases: string[] = [];
      while (!p.eat('}')) {
        cases.push(unescape(p.next()));
        p.eat(',');
      }
      defs.set(
        name,
        kw === 'enum' ? { kind: 'enum', name, cases } : { kind: 'flags', name, flags: cases },
      );
    } else if (kw === 'type') {
      const name = unescape(p.next());
      p.expect('=');
      defs.set(name, p.type());
      p.expect(';');
    } else if (kw === 'resource') {
      const name = unescape(p.next());
      if (p.peek() === '{') p.skipBlock();
      else p.expect(';');
      defs.set(name, { kind: 'unsupported', name });
    } else if (kw === 'use') {
      // `use ns:pkg/iface.{a, b as c};`: types from other interfaces are not mappable
      p.path();
      p.expect('.');
      p.expect('{');
      while (!p.eat('}')) {
        let name = unescape(p.next());
        if (p.eat('as')) name = unescape(p.next());
        defs.set(name, { kind: 'unsupported', name });
        p.eat(',');
      }
      p.expect(';');
    } else if (kw === 'include') {
      p.skipStatement();
    } else {
      p.skipStatement();
    }
  }

  const resolve = (raw: Raw, seen: Set<string>): WitType => {
    switch (raw.kind) {
      case 'ref': {
        const def = defs.get(raw.name);
        if (!def || seen.has(raw.name)) return { kind: 'unsupported', name: raw.name };
        return resolve(def, new Set(seen).add(raw.name));
      }
      case 'list':
        return { kind: 'list', elem: resolve(raw.elem, seen) };
      case 'option':
        return { kind: 'option', inner: resolve(raw.inner, seen) };
      case 'result': {
        const r: { kind: 'result'; ok?: WitType; err?: WitType } = { kind: 'result' };
        if (raw.ok) r.ok = resolve(raw.ok, seen);
        if (raw.err) r.err = resolve(raw.err, seen);
        return r;
      }
      case 'tuple':
        return { kind: 'tuple', items: raw.items.map((t) => resolve(t, seen)) };
      case 'record':
        return {
          kind: 'record',
          name: raw.name,
          fields: raw.fields.map((f) => ({ name: f.name, type: resolve(f.type, seen) })),
        };
      case 'variant':
        return {
          kind: 'variant',
          name: raw.name,
          cases: raw.cases.map((c) =>
            c.type ? { name: c.name, type: resolve(c.type, seen) } : { name: c.name },
          ),
        };
      default:
        return raw;
    }
  };

  return {
    imports,
    exports: exports.map((f) => {
      const fn: WitFunction = {
        name: f.name,
        params: f.params.map((pp) => ({ name: pp.name, type: resolve(pp.type, new Set()) })),
      };
      if (f.result) fn.result = resolve(f.result, new Set());
      return fn;
    }),
  };
}

/** Print a type the way WIT spells it (for error messages). */
export function witTypeName(t: WitType): string {
  switch (t.kind) {
    case 'list':
      return `list<${witTypeName(t.elem)}>`;
    case 'option':
      return `option<${witTypeName(t.inner)}>`;
    case 'result':
      return `result<${t.ok ? witTypeName(t.ok) : '_'}, ${t.err ? witTypeName(t.err) : '_'}>`;
    case 'tuple':
      return `tuple<${t.items.map(witTypeName).join(', ')}>`;
    case 'record':
    case 'variant':
    case 'enum':
    case 'flags':
      return `${t.kind} ${t.name}`;
    case 'unsupported':
      return t.name;
    default:
      return t.kind;
  }
}
