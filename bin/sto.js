#!/usr/bin/env node
// Launcher for `npx sto`: lets Node load the TypeScript sources directly (tsx), then runs the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
