#!/usr/bin/env node
// Entry point of the `ipvm` command. The sources are TypeScript run through Node's built-in
// type stripping (Node >= 22.18), so there is no build step between an edit and a run.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `ipvm needs Node >= 22.18 (found ${process.versions.node}); run it through npm (npx ipvm …), ` +
      'which uses the node@22 installed in node_modules.\n',
  );
  process.exit(1);
}
await import('./main.ts');
