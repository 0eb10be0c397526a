#!/usr/bin/env node
// `npm start` (docs/desktop.md, "Starting"): `station desktop` from a bundle of its TypeScript,
// built with esbuild into .cache/start/ when missing or stale (scripts/station-bundle.mjs), so
// the station process loads one module instead of ~140 through tsx. The desktop command then
// serves the renderer's production build, built when missing or stale (cli/renderer-build.ts).
// Arguments go to `station desktop` (npm start -- --scenario counter-day).
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureBundle } from './station-bundle.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.cache', 'start', 'station-desktop.mjs');
try {
  await ensureBundle({
    root,
    entry: join(root, 'cli', 'desktop-main.ts'),
    out,
    note: (line) => console.log(line),
  });
} catch (e) {
  // esbuild has printed what it could not compile.
  console.error(
    `station: cannot bundle the desktop command: ${e instanceof Error ? e.message : e}`,
  );
  process.exit(1);
}
const { run } = await import(pathToFileURL(out).href);
process.exitCode = await run([process.argv[0], 'station', 'desktop', ...process.argv.slice(2)]);
