/**
 * The console's static files: `processors/api/console/` plus Preact and htm, served from their
 * installed ESM builds (no CDN, no bundler) under versioned `/vendor/` URLs that an import map
 * in `index.html` points at.
 *
 * Caching: vendor files are immutable (their URL carries the package version); the console's
 * own files are revalidated with a strong ETag (`no-cache` + `If-None-Match` → 304). Every
 * answer carries a strict Content-Security-Policy: scripts only from this origin plus the hash of
 * the inline import map, no inline styles or eval, no frames, connections only back to the node.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Content types by extension. */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Where the console's own files live. */
export const CONSOLE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'console');

/** Marker in `index.html` replaced by the import map. */
const IMPORT_MAP_MARKER = '<!-- importmap -->';

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

/** Serves the console's files. */
export interface ConsoleFiles {
  /** Answers a GET for a console path; false when the path is not the console's. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): boolean;
  /** The Content-Security-Policy sent with every file. */
  readonly csp: string;
}

function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** The vendored ESM modules: import specifier → file. */
function vendorModules(): Array<{ specifier: string; url: string; file: string }> {
  const require = createRequire(import.meta.url);
  const out: Array<{ specifier: string; url: string; file: string }> = [];
  // Not every package exports its package.json: find it above the resolved entry point.
  const pkg = (name: string): { version: string; dir: string } => {
    let dir = dirname(require.resolve(name));
    while (!existsSync(join(dir, 'package.json')) || basename(dir) !== name) {
      const up = dirname(dir);
      if (up === dir) throw new Error(`cannot find the package directory of ${name}`);
      dir = up;
    }
    const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      version: string;
    };
    return { version, dir };
  };
  const preact = pkg('preact');
  const htm = pkg('htm');
  out.push({
    specifier: 'preact',
    url: `/vendor/preact@${preact.version}/preact.mjs`,
    file: join(preact.dir, 'dist', 'preact.mjs'),
  });
  out.push({
    specifier: 'preact/hooks',
    url: `/vendor/preact@${preact.version}/hooks.mjs`,
    file: join(preact.dir, 'hooks', 'dist', 'hooks.mjs'),
  });
  out.push({
    specifier: 'htm',
    url: `/vendor/htm@${htm.version}/htm.mjs`,
    file: join(htm.dir, 'dist', 'htm.mjs'),
  });
  return out;
}

/** Reads the console's files and the vendored modules into memory (a few tens of kilobytes). */
export async function loadConsoleFiles(dir = CONSOLE_DIR): Promise<ConsoleFiles> {
  const files = new Map<string, StaticFile>();
  const vendor = vendorModules();
  const importMap = JSON.stringify({
    imports: Object.fromEntries(vendor.map((v) => [v.specifier, v.url])),
  });
  const mapHash = createHash('sha256').update(importMap).digest('base64');
  for (const v of vendor) {
    // Source maps are not shipped: drop the comment that would make devtools ask for them.
    const text = (await readFile(v.file, 'utf8')).replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '');
    const body = Buffer.from(text);
    files.set(v.url, { body, type: TYPES['.mjs']!, etag: etagOf(body), immutable: true });
  }
  for (const name of await readdir(dir)) {
    const type = TYPES[extname(name)];
    if (type === undefined) continue;
    let body = await readFile(join(dir, name));
    if (name === 'index.html')
      body = Buffer.from(
        body
          .toString('utf8')
          .replace(IMPORT_MAP_MARKER, `<script type="importmap">${importMap}</script>`),
      );
    files.set(`/${name}`, { body, type, etag: etagOf(body), immutable: false });
  }
  const index = files.get('/index.html');
  if (index === undefined) throw new Error(`no index.html in ${dir}`);
  files.set('/', index);
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${mapHash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    csp,
    serve(req, res, path) {
      const file = files.get(path);
      if (file === undefined) return false;
      const headers: Record<string, string | number> = {
        'content-type': file.type,
        etag: file.etag,
        'cache-control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        'content-security-policy': csp,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-resource-policy': 'same-origin',
      };
      const match = req.headers['if-none-match'];
      if (match !== undefined && match.split(',').some((t) => t.trim() === file.etag)) {
        res.writeHead(304, headers).end();
        return true;
      }
      headers['content-length'] = file.body.length;
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : file.body);
      return true;
    },
  };
}
