import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CID } from 'multiformats/cid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ContentNotFoundError,
  InvalidResourceError,
  createHeliaContentStore,
  UNIXFS_CHUNK_BYTES,
  parseResource,
  resolveDataDir,
  resolveResource,
  type ContentStore,
} from '../../processors/content/index.ts';

// Independent CID computation for the vectors below: sha-256 via node:crypto and a hand-written
// protobuf encoder for the dag-pb/UnixFS root, following the dag-pb and UnixFS specs rather than
// the importer under test.
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const field = (num: number, wire: number): number[] => varint((num << 3) | wire);
const lenDelim = (num: number, bytes: ArrayLike<number>): number[] => [
  ...field(num, 2),
  ...varint(bytes.length),
  ...Array.from(bytes),
];
function cidBytes(version: number, codec: number, digest: Uint8Array): Uint8Array {
  return Uint8Array.from([version, ...varint(codec), 0x12, 0x20, ...digest]);
}
const sha256 = (b: Uint8Array): Uint8Array => createHash('sha256').update(b).digest();

function expectedFileCid(bytes: Uint8Array, chunk = 262_144): string {
  if (bytes.length <= chunk) return CID.decode(cidBytes(1, 0x55, sha256(bytes))).toString();
  const links: number[] = [];
  const data: number[] = [...field(1, 0), ...varint(2), ...field(3, 0), ...varint(bytes.length)];
  for (let off = 0; off < bytes.length; off += chunk) {
    const leaf = bytes.subarray(off, off + chunk);
    const link = [
      ...lenDelim(1, cidBytes(1, 0x55, sha256(leaf))),
      ...lenDelim(2, []),
      ...field(3, 0),
      ...varint(leaf.length),
    ];
    links.push(...lenDelim(2, link));
    data.push(...field(4, 0), ...varint(leaf.length));
  }
  const node = Uint8Array.from([...links, ...lenDelim(1, data)]);
  return CID.decode(cidBytes(1, 0x70, sha256(node))).toString();
}

function pseudoRandom(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe('helia content store', () => {
  let dir: string;
  let store: ContentStore;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ipvm-content-'));
    store = await createHeliaContentStore({ dataDir: dir });
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a small file as one raw block (CIDv1 raw, sha-256)', async () => {
    const bytes = new TextEncoder().encode('hello ipvm\n');
    const cid = await store.add(bytes);
    expect(cid.toString()).toBe(expectedFileCid(bytes));
    expect(cid.toString().startsWith('bafkrei')).toBe(true);
    expect(await store.get(cid)).toEqual(bytes);
    expect(await store.has(cid)).toBe(true);
  });

  it('chunks a multi-chunk file at 256 KiB with raw leaves under a dag-pb root', async () => {
    const bytes = pseudoRandom(600_000);
    const cid = await store.add(bytes);
    expect(cid.toString()).toBe(expectedFileCid(bytes));
    expect(cid.toString().startsWith('bafybei')).toBe(true);
    expect(await store.get(cid)).toEqual(bytes);
  });

  it('stores one-chunk files as raw blocks without UnixFS, as the importer would', async () => {
    // the bytes path takes the raw-block shortcut; a stream always goes through the importer
    for (const n of [1, 1000, UNIXFS_CHUNK_BYTES, UNIXFS_CHUNK_BYTES + 1]) {
      const bytes = pseudoRandom(n, n);
      // eslint-disable-next-line @typescript-eslint/require-await -- an async source on purpose
      async function* once() {
        yield bytes;
      }
      const direct = await store.add(bytes);
      expect(direct.toString(), `${n} bytes`).toBe((await store.add(once())).toString());
      expect(direct.toString()).toBe(expectedFileCid(bytes));
      expect(await store.get(direct)).toEqual(bytes);
    }
  });

  it('accepts a byte stream and gives the same CID as bytes', async () => {
    const bytes = pseudoRandom(300_000, 3);
    // eslint-disable-next-line @typescript-eslint/require-await -- an async source on purpose
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += 10_000) yield bytes.slice(i, i + 10_000);
    }
    expect((await store.add(chunks())).toString()).toBe(expectedFileCid(bytes));
  });

  it('prints the CID `ipfs add --cid-version=1` prints for synthcat.png', async (ctx) => {
    const path = '../shared/fixtures/homestar/synthcat.png';
    const candidates = [
      join(process.cwd(), path),
      join(process.cwd(), '..', 'shared/fixtures/homestar/synthcat.png'),
    ];
    const file = candidates.find((p) => existsSync(p));
    if (!file) {
      ctx.skip(true, 'fixture homestar/synthcat.png not present');
      return;
    }
    const cid = await store.add(new Uint8Array(readFileSync(file)));
    expect(cid.toString()).toBe('bafybeiejevluvtoevgk66plh5t6xiy3ikyuuxg3vgofuvpeckb6eadresm');
  });

  it('reports missing content as a retryable error naming the CID', async () => {
    const missing = CID.decode(cidBytes(1, 0x55, sha256(new TextEncoder().encode('nope'))));
    const err = await store.get(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContentNotFoundError);
    expect((err as ContentNotFoundError).retryable).toBe(true);
    expect((err as Error).message).toContain(missing.toString());
    expect(await store.has(missing)).toBe(false);
  });

  it('round-trips a DAG through a CAR into another store', async () => {
    const bytes = pseudoRandom(700_000, 11);
    const cid = await store.add(bytes);
    const chunks: Uint8Array[] = [];
    await store.exportCar([cid], (c) => {
      chunks.push(c);
    });
    const dir2 = mkdtempSync(join(tmpdir(), 'ipvm-content-'));
    try {
      await using other = await createHeliaContentStore({ dataDir: dir2 });
      const car = Buffer.concat(chunks);
      const roots = await other.importCar(new Uint8Array(car));
      expect(roots.map(String)).toEqual([cid.toString()]);
      expect(await other.get(cid)).toEqual(bytes);
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  });

  it('resolves rsc strings', async () => {
    const bytes = new TextEncoder().encode('rsc');
    const cid = await store.add(bytes);
    expect(parseResource(`ipfs://${cid.toString()}`).equals(cid)).toBe(true);
    expect(parseResource(cid.toString()).equals(cid)).toBe(true);
    expect((await resolveResource(store, `ipfs://${cid.toString()}`)).bytes).toEqual(bytes);
    expect(() => parseResource('https://example.com/x.wasm')).toThrow(InvalidResourceError);
  });

  it('opens its blockstore at the first use, and tries again after a failed open', async () => {
    const dir2 = mkdtempSync(join(tmpdir(), 'ipvm-content-'));
    try {
      // A store that is never used touches nothing, and closes.
      const unused = await createHeliaContentStore({ dataDir: join(dir2, 'unused') });
      expect(existsSync(join(dir2, 'unused', 'blocks'))).toBe(false);
      await unused.close();

      // Where the blockstore's directory should be, a file: the first use fails, located.
      const dataDir = join(dir2, 'lazy');
      mkdirSync(dataDir);
      writeFileSync(join(dataDir, 'blocks'), 'not a directory');
      const lazy = await createHeliaContentStore({ dataDir });
      const bytes = new TextEncoder().encode('lazy');
      await expect(lazy.add(bytes)).rejects.toThrow(/blocks/);
      // Once the path is usable, the next use opens it.
      rmSync(join(dataDir, 'blocks'));
      const cid = await lazy.add(bytes);
      expect(existsSync(join(dataDir, 'blocks'))).toBe(true);
      expect(await lazy.get(cid)).toEqual(bytes);
      await lazy.close();
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  });

  it('picks the data dir from option, env, then default', () => {
    expect(resolveDataDir('d', { IPVM_DATA_DIR: 'e' })).toBe('d');
    expect(resolveDataDir(undefined, { IPVM_DATA_DIR: 'e' })).toBe('e');
    expect(resolveDataDir(undefined, {})).toBe('.ipvm');
  });
});
