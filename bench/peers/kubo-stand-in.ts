// A minimal stand-in for the two Kubo HTTP API calls Homestar makes: `cat` to fetch a Wasm
// resource by CID, and `dag/put` to store each receipt (DAG-CBOR, sha3-256). Nothing else is
// served; Homestar calls nothing else, and nothing at start-up.
import { createServer, type Server } from 'node:http';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { cidOfBytes } from '../../schemas/cid.ts';

/** UnixFS files up to one chunk are a single raw block: their CID is the raw block's. */
const ONE_CHUNK = 256 * 1024;

/** The CID `ipfs add --cid-version=1` gives a file of at most one chunk. */
export async function smallFileCid(bytes: Uint8Array): Promise<string> {
  if (bytes.length > ONE_CHUNK)
    throw new Error(`${bytes.length} bytes: more than one UnixFS chunk`);
  return CID.create(1, raw.code, await sha256.digest(bytes)).toString();
}

export interface KuboStandIn {
  port: number;
  /** Calls served so far, by path. */
  calls: Map<string, number>;
  close(): Promise<void>;
}

export async function startKuboStandIn(
  files: ReadonlyMap<string, Uint8Array>,
): Promise<KuboStandIn> {
  const calls = new Map<string, number>();
  const dag = new Map<string, Uint8Array>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      calls.set(url.pathname, (calls.get(url.pathname) ?? 0) + 1);
      const fail = (status: number, message: string): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ Message: message, Code: 0, Type: 'error' }));
      };
      if (url.pathname === '/api/v0/cat') {
        const body = files.get(url.searchParams.get('arg') ?? '');
        if (body === undefined) return fail(500, `block not found: ${url.searchParams.get('arg')}`);
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(body);
        return;
      }
      if (url.pathname === '/api/v0/dag/put') {
        // The body is a multipart form with one file part: take the bytes between the part's
        // headers and its closing boundary.
        const body = Buffer.concat(chunks);
        const boundary = /boundary=([^;]+)/.exec(req.headers['content-type'] ?? '')?.[1];
        let data: Uint8Array = body;
        if (boundary !== undefined) {
          const start = body.indexOf('\r\n\r\n') + 4;
          const end = body.lastIndexOf(`\r\n--${boundary}`);
          data = body.subarray(start, end > start ? end : body.length);
        }
        const cid = cidOfBytes(data).toString();
        dag.set(cid, new Uint8Array(data));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ Cid: { '/': cid } }));
        return;
      }
      fail(404, `not served by the stand-in: ${url.pathname}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    port,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
