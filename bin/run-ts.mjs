#!/usr/bin/env node
// Runs a TypeScript file (benchmarks, scripts) through tsx's loader: node bin/run-ts.mjs file.ts [args]
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

// The repo's tsconfig (decorators, paths) applies wherever the command is run from.
register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const file = process.argv[2];
if (!file) {
  console.error('usage: run-ts <file.ts> [args...]');
  process.exit(2);
}
process.argv.splice(1, 1);
await import(pathToFileURL(resolve(file)).href);
