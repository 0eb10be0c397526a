#!/usr/bin/env node
// Entry point of the `central` command (the central office): runs the TypeScript through tsx.
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { main } = await import('../central/cli.ts');
process.exitCode = await main(process.argv);
