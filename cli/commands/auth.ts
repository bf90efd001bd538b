// `ipvm id`, `ipvm ucan delegate` and `ipvm secret set`: the node's identity, the tokens it
// issues, and the secrets only it may read.
import type { Command } from 'commander';
import { resolveDataDir } from '../../processors/content/index.ts';
import { UsageError } from '../exit.ts';

interface DirFlags {
  dataDir?: string;
}

/** Registers `ipvm id`, `ipvm ucan delegate` and `ipvm secret set`. */
export function registerAuth(program: Command): void {
  program
    .command('id')
    .description("Print this node's DID (did:key, Ed25519); the key is created on first use")
    .option('--data-dir <dir>', 'data directory (env IPVM_DATA_DIR)')
    .action(async (flags: DirFlags) => {
      const { loadIdentity } = await import('../../processors/auth/identity.ts');
      process.stdout.write(`${loadIdentity(resolveDataDir(flags.dataDir)).did}\n`);
    });

  const ucan = program.command('ucan').description('issue UCAN tokens signed by this node');
  ucan
    .command('delegate')
    .description('Print a JWT UCAN granting ABILITY on URI to DID, signed by this node')
    .requiredOption('--audience <did>', 'who receives the capability (did:key)')
    .requiredOption('--with <uri>', 'the resource: ipfs://CID, ipfs://*, https://host/*, …')
    .requiredOption('--can <ability>', 'the ability: wasm/run, http/get, http/*, …')
    .option('--expires <seconds>', 'lifetime in seconds', '3600')
    .option('--proof <token>', 'a token this delegation is backed by (repeatable)', collect, [])
    .option(
      '--ucv <version>',
      'UCAN version: 0.8.1 (proofs embedded) or 0.10.0 (proofs linked by CID: supply them too)',
      '0.8.1',
    )
    .option('--data-dir <dir>', 'data directory (env IPVM_DATA_DIR)')
    .addHelpText(
      'after',
      `
Examples:
  ipvm ucan delegate --audience did:key:z6Mk… --with 'ipfs://*' --can wasm/run
  ipvm ucan delegate --audience $(ipvm id --data-dir node) --with ipfs://bafk… --can wasm/run \\
    --proof "$TOKEN_FROM_THE_ROOT" --data-dir client`,
    )
    .action(
      async (
        flags: DirFlags & {
          audience: string;
          with: string;
          can: string;
          expires: string;
          proof: string[];
          ucv: string;
        },
      ) => {
        const auth = await import('../../processors/auth/index.ts');
        const expires = Number(flags.expires);
        if (!Number.isInteger(expires) || expires <= 0)
          throw new UsageError(
            `--expires must be a positive number of seconds (got ${flags.expires})`,
          );
        try {
          auth.keyOfDid(flags.audience);
        } catch (err) {
          throw new UsageError(`--audience: ${(err as Error).message}`);
        }
        if (!/^[a-z][a-z0-9+.-]*:/i.test(flags.with))
          throw new UsageError(`--with must be a URI (got ${flags.with})`);
        if (flags.can !== '*' && !flags.can.includes('/'))
          throw new UsageError(`--can must be namespaced, like wasm/run (got ${flags.can})`);
        if (flags.ucv !== '0.8.1' && flags.ucv !== '0.10.0')
          throw new UsageError(`--ucv must be 0.8.1 or 0.10.0 (got ${flags.ucv})`);
        const token = await auth.delegateJwt({
          issuer: auth.loadIdentity(resolveDataDir(flags.dataDir)),
          audience: flags.audience,
          with: flags.with,
          can: flags.can,
          expiresInSeconds: expires,
          proofs: flags.proof,
          version: flags.ucv,
        });
        process.stdout.write(`${token}\n`);
      },
    );

  const secret = program.command('secret').description("this node's local secrets");
  secret
    .command('set')
    .description('Store a secret read from standard input (never echoed, never logged)')
    .argument('<name>', 'the name tasks use: {"secret": "NAME"}')
    .option(
      '--allow-host <host>',
      'a host (HOST[:PORT]) this secret, or anything derived from it, may be sent to by an HTTP effect (repeatable)',
      collect,
      [],
    )
    .option('--data-dir <dir>', 'data directory (env IPVM_DATA_DIR)')
    .addHelpText(
      'after',
      `
Examples:
  printf %s "$API_TOKEN" | ipvm secret set api-token --allow-host api.example.com`,
    )
    .action(async (name: string, flags: DirFlags & { allowHost: string[] }) => {
      const { createSecretStore } = await import('../../processors/auth/secrets.ts');
      const chunks: Uint8Array[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
      const value = Buffer.concat(chunks)
        .toString('utf8')
        .replace(/\r?\n$/, '');
      const store = createSecretStore({ dataDir: resolveDataDir(flags.dataDir) });
      store.set(name, value, { allowHosts: flags.allowHost });
      process.stderr.write(`secret ${name} stored (${value.length} characters)\n`);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
