#!/usr/bin/env node
// Bundles the Electron main process and preload (electron/*.ts) into dist-electron/ with
// esbuild (tsx's own bundler): Electron runs JavaScript, not TypeScript. Native modules and
// electron stay external (packaging rebuilds the native ones for Electron's ABI). With
// --package, development-devices.ts is swapped for no-development-devices.ts: a packaged build
// carries no simulator, no development seed and no browser bridge.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { NATIVE_PACKAGES } from './native-packages.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const packaging = process.argv.includes('--package');
// --out <dir>: where the bundles go (default dist-electron/; a development run of Electron
// uses .electron-dev/dist-electron, beside its own rebuilt native modules).
const outIndex = process.argv.indexOf('--out');
const outDir = outIndex > 0 ? process.argv[outIndex + 1] : join(root, 'dist-electron');
const external = ['electron', ...NATIVE_PACKAGES];

const noDevelopment = {
  name: 'no-development-devices',
  setup(b) {
    b.onResolve({ filter: /development-devices\.ts$/ }, (args) =>
      args.importer.endsWith(join('electron', 'main.ts'))
        ? { path: join(root, 'electron', 'no-development-devices.ts') }
        : undefined,
    );
    b.onResolve({ filter: /(^|\/)(simulator|cli|bridge)\// }, (args) => ({
      errors: [
        { text: `${args.path} must not be in a packaged build (imported by ${args.importer})` },
      ],
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node22',
  sourcemap: false,
  logLevel: 'warning',
  plugins: packaging ? [noDevelopment] : [],
};
// Main as ESM (modules of ours find their assets through import.meta.url); CommonJS packages
// bundled into it get a require, and main.ts its __dirname.
await build({
  ...common,
  format: 'esm',
  entryPoints: [join(root, 'electron', 'main.ts')],
  outfile: join(outDir, 'main.mjs'),
  external,
  banner: {
    js: [
      "import { createRequire as __cr } from 'node:module';",
      "import { fileURLToPath as __fu } from 'node:url';",
      'const require = __cr(import.meta.url);',
      'const __filename = __fu(import.meta.url);',
      "const __dirname = __fu(new URL('.', import.meta.url));",
    ].join('\n'),
  },
});
// The sandboxed preload may require only 'electron': everything else is bundled in.
await build({
  ...common,
  entryPoints: [join(root, 'electron', 'preload.ts')],
  outfile: join(outDir, 'preload.cjs'),
  external: ['electron'],
  plugins: [],
});
console.log(
  `built dist-electron/main.mjs and preload.cjs${packaging ? ' (packaged: no development devices)' : ''}`,
);
