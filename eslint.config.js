// ESLint flat config: typescript-eslint's type-checked rules (floating promises are bugs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Each client library is imported only in the folder that owns it (DESIGN.md): one row per
// folder; a folder that adopts a new client library adds its row. Tests and benchmarks (whose
// baselines call the libraries directly) are exempt.
/** @type {Array<{folder: string, packages: string[]}>} */
const CONFINED = [
  { folder: 'streams/kafka', packages: ['kafkajs'] },
  { folder: 'streams/jetstream', packages: ['@nats-io/*'] },
  { folder: 'processors/tables', packages: ['chdb', '@clickhouse/client'] },
  {
    folder: 'processors/content',
    packages: ['helia', '@helia/*', 'blockstore-fs', 'libp2p', '@libp2p/*'],
  },
  { folder: 'processors/wasm', packages: ['@bytecodealliance/jco', 'binaryen'] },
  { folder: 'processors/effects', packages: ['undici'] },
  { folder: 'processors/auth', packages: ['@ucans/ucans', 'iso-ucan', '@noble/curves'] },
  // Not a client library: RxJS's index loads all of it at every start (processors/rx/index.ts).
  { folder: 'processors/rx', packages: ['rxjs'] },
];
const EXEMPT = ['test/**', '**/*.test.ts', 'bench/**'];
/**
 * User code outside the node that imports client libraries as a user would: the producer and
 * subscriber examples talk to Kafka and NATS directly (they are what a user copies).
 */
const USER_CODE = { files: ['examples/**/*.ts'], folders: ['streams/kafka', 'streams/jetstream'] };
const USING = {
  selector: "VariableDeclaration[kind='await using'], VariableDeclaration[kind='using']",
  message: 'Node 22 cannot run `using` declarations: close in a finally block.',
};

/**
 * The restrictions for files outside every folder but `own` (CONFINED rows, or none).
 * @param {...({folder: string, packages: string[]} | undefined)} own
 */
function confinement(...own) {
  const rows = CONFINED.filter((row) => !own.includes(row));
  /** @param {{folder: string}} row */
  const message = (row) => `only ${row.folder}/ may import this client library (eslint.config.js)`;
  // esquery regexes cannot contain a slash: written as \u002F.
  /** @param {string} name */
  const regex = (name) =>
    name
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace('/*', '/[^/]+')
      .replaceAll('/', '\\u002F');
  return {
    'no-restricted-imports': [
      'error',
      {
        patterns: rows.map((row) => ({
          group: row.packages.flatMap((p) => (p.endsWith('/*') ? [p, `${p}/**`] : [p, `${p}/*`])),
          message: message(row),
        })),
      },
    ],
    // Dynamic import() too; the `using` ban below is repeated because a rule set here replaces it.
    'no-restricted-syntax': [
      'error',
      USING,
      ...rows.map((row) => ({
        selector: `ImportExpression[source.value=/^(${row.packages.map(regex).join('|')})(\\u002F|$)/]`,
        message: message(row),
      })),
    ],
  };
}

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.data/**',
      '.cache/**',
      '.ipvm/**',
      'test/.cache/**',
      'bench/results/**',
      'infra/kafka/lib/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'cli/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'error',
    },
  },
  {
    // Sources run on Node 22, whose V8 has no explicit resource management syntax; vitest
    // transpiles tests, so only they may write `await using`.
    files: ['**/*.ts'],
    ignores: ['**/*.test.ts', 'test/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "VariableDeclaration[kind='await using'], VariableDeclaration[kind='using']",
          message: 'Node 22 cannot run `using` declarations: close in a finally block.',
        },
      ],
    },
  },
  { files: ['**/*.ts', '**/*.js'], ignores: EXEMPT, rules: confinement(undefined) },
  ...CONFINED.map((row) => ({
    files: [`${row.folder}/**/*.ts`, `${row.folder}/**/*.js`],
    ignores: EXEMPT,
    rules: confinement(row),
  })),
  {
    files: USER_CODE.files,
    rules: confinement(...CONFINED.filter((row) => USER_CODE.folders.includes(row.folder))),
  },
  {
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The console's browser modules: plain ESM served as they are, outside the TS project.
    files: ['processors/api/console/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false },
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'WebSocket',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
          'addEventListener',
          'removeEventListener',
        ].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    // Command-line faces, scripts, tests and benchmarks may print.
    files: ['cli/**', 'bench/**', 'test/**', 'infra/**', 'examples/**', '**/*.test.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
