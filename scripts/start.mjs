#!/usr/bin/env node
// `npm start` (docs/desktop.md, "Browser mode"): the Debian packages the start path needs
// (installed when missing), then `station desktop` from a bundle of its TypeScript, built with
// esbuild into .cache/start/ when missing or stale (scripts/station-bundle.mjs), so the station
// process loads one module instead of ~140 through tsx. The desktop command then serves the
// renderer's production build, built when missing or stale (cli/renderer-build.ts). Arguments
// go to `station desktop` (npm start -- --scenario counter-day).
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureSystemDeps } from './ensure-system-deps.mjs';
import { ensureBundle } from './station-bundle.mjs';

// What the start path needs from Debian (socat for the simulator's serial pair, libusb), installed
// when missing: here rather than in a prestart script, which would cost a process.
const deps = ensureSystemDeps({ forStart: true });
if (deps !== 0) process.exit(deps);

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
