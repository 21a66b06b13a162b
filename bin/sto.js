#!/usr/bin/env node
// Launcher for `npx sto`: lets Node load the TypeScript sources directly (tsx), then runs the CLI.
// Node 22 is required (worker threads load .ts files by Node's own type stripping); `npx sto` and npm
// scripts use the Node 22 that `npm install` brings (the node@22 package), a bare `node` may be older.
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(
    `error: sto needs Node 22 or later, this is Node ${process.versions.node}; ` +
      'run it as `npx sto ...` in the project, which uses the Node 22 that `npm install` brought\n',
  );
  process.exit(2);
}
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
