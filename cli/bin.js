#!/usr/bin/env node
// Entry point of the `ipvm` command. In a clone the sources are TypeScript run through Node's
// built-in type stripping (Node >= 22.19), so there is no build step between an edit and a run;
// an installed package runs the same code compiled to JavaScript (below).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  // An older system Node (e.g. through `npm link`): hand over to the node@22 the project
  // installs in node_modules, so `ipvm` works on the PATH without `npx`.
  const { existsSync } = await import('node:fs');
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath, URL } = await import('node:url');
  const local = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (existsSync(local)) {
    const child = spawnSync(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
    });
    process.exit(child.status ?? 1);
  }
  process.stderr.write(
    `ipvm needs Node >= 22.19 (found ${process.versions.node}); run it through npm (npx ipvm …), ` +
      'which uses the node@22 installed in node_modules.\n',
  );
  process.exit(1);
}
// V8's compile cache (Node >= 22.1) keeps start-up near Node's own on every run after the first.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
// Installed as a package (under node_modules, where Node strips no types) the node runs compiled
// to JavaScript: `npm pack` builds it into dist/ (`npm run build`). In a clone it runs from its
// TypeScript sources, with nothing built.
if (import.meta.url.includes('/node_modules/')) {
  const { existsSync } = await import('node:fs');
  const { fileURLToPath, URL } = await import('node:url');
  const main = new URL('../dist/cli/main.js', import.meta.url);
  if (!existsSync(fileURLToPath(main))) {
    process.stderr.write(
      `ipvm: this installed package has no compiled node (${fileURLToPath(main)} is missing); ` +
        'install it from a tarball made by `npm pack`, which builds it.\n',
    );
    process.exit(1);
  }
  await import(main.href);
} else {
  // Each source's stripped JavaScript is kept between runs (ts-cache.js).
  const { cacheStrippedTypeScript } = await import('./ts-cache.js');
  cacheStrippedTypeScript();
  await import('./main.ts');
}
