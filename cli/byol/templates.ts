// The starter projects `ipvm init --lang as|wat|js NAME` writes: one function `add` of the
// WIT world NAME, its source, and a README saying how to build and run it.

/** The languages `ipvm build` knows. */
export const LANGUAGES = ['as', 'wat', 'js'] as const;
export type Language = (typeof LANGUAGES)[number];

/** The file `ipvm build` reads to know what to build (written by `ipvm init`). */
export const MANIFEST = 'ipvm-build.json';

/** What {@link MANIFEST} holds. */
export interface BuildManifest {
  lang: Language;
  /** The source file, relative to the project folder. */
  source: string;
  /** The WIT file, relative to the project folder. */
  wit: string;
  /** The world of `wit` the component targets. */
  world: string;
}

const SOURCES: Record<Language, { file: string; text: string }> = {
  as: {
    file: 'add.ts',
    text: `// AssemblyScript: each exported function is a function of the WIT world (world.wit).
export function add(a: i32, b: i32): i32 {
  return a + b;
}
`,
  },
  wat: {
    file: 'add.wat',
    text: `;; A core module exporting the functions of the WIT world (world.wit) by their WIT names.
;; Functions taking or returning strings or lists also need "memory" and "cabi_realloc".
(module
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1))))
`,
  },
  js: {
    file: 'add.js',
    text: `// JavaScript (ES module): each exported function is a function of the WIT world (world.wit).
export function add(a, b) {
  return a + b;
}
`,
  },
};

const HOW: Record<Language, string> = {
  as: 'AssemblyScript, compiled by `asc` (a dependency of ipvm)',
  wat: 'WebAssembly text, assembled by wabt (a dependency of ipvm)',
  js: 'JavaScript, componentized by `jco componentize` (~10 s and a ~12 MB component that starts with ~9 MB of memory and uses ~1.8 million fuel units a call: give its tasks `meta.memory` ≥ 16 MiB)',
};

/** The files of a starter project for `lang`, named `name` (a WIT identifier). */
export function starterFiles(lang: Language, name: string): Record<string, string> {
  const source = SOURCES[lang];
  const manifest: BuildManifest = { lang, source: source.file, wit: 'world.wit', world: name };
  return {
    [source.file]: source.text,
    'world.wit': `package local:${name};

world ${name} {
  export add: func(a: s32, b: s32) -> s32;
}
`,
    [MANIFEST]: `${JSON.stringify(manifest, null, 2)}\n`,
    'README.md': `# ${name}

A function for an IPVM node, in ${HOW[lang]}. It implements the WIT world \`${name}\` of
\`world.wit\`; change both together.

    ipvm build ${name} --add    # → ${name}/build/component.wasm, stored; prints its CID

Then call it from a workflow task: \`"op": "wasm/run"\`, \`"rsc": "ipfs://CID"\`,
\`"input": {"func": "add", "args": [2, 3]}\`, or in one line: \`ipvm call CID add 2 3\`.
`,
  };
}
