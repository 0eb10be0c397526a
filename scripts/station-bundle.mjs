// A bundle of the station's TypeScript for `npm start` (scripts/start.mjs, docs/desktop.md,
// "Browser mode"): esbuild (tsx's own transformer) bundles an entry, every source file it
// reaches and the JavaScript packages they use into one ES module in .cache/start/; packages with
// native parts (and the build tools) stay imports of node_modules. Loading it takes about a third
// of the CPU time tsx takes to load the ~140 source modules one by one through its loader.
//
// Built when missing or stale, used as it is otherwise. The stamp beside it lists every source
// file it holds with its SHA-256, the .ts/.tsx files of every directory holding one (a file added
// there — a scenario reached through a template import — makes it stale too), package-lock.json
// (the packages), this builder, the esbuild version and the checkout's path: each module's
// import.meta.url is written into the bundle as its own source file's URL, so the assets it finds
// beside itself are found where they are.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NATIVE_PACKAGES } from './native-packages.mjs';

const STAMP_VERSION = 2;
/** Packages with native parts, and tools, loaded from node_modules as they are. */
export const EXTERNAL = [
  ...NATIVE_PACKAGES,
  // PGlite finds its WebAssembly and data files beside its own module (--with-central).
  '@electric-sql/*',
  // ws's optional native helpers.
  'bufferutil',
  'utf-8-validate',
  // Loaded only for --vite, Electron and its rebuild.
  'vite',
  'electron',
  '@electron/rebuild',
  'esbuild',
];
/** This builder and the list of packages it leaves outside: a change to either rebuilds. */
const BUILDER = createHash('sha256')
  .update(readFileSync(fileURLToPath(import.meta.url)))
  .update(readFileSync(fileURLToPath(new URL('./native-packages.mjs', import.meta.url))))
  .digest('hex');
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const sourceFiles = (dir) =>
  readdirSync(dir)
    .filter((f) => /\.tsx?$/.test(f))
    .sort();

/**
 * Writes import.meta.url of our own sources as the source file's URL, and keeps the hash of the
 * text esbuild was given with the file's size and time (a file edited during the build makes the
 * next start build again).
 */
const sourceUrls = (root, read) => ({
  name: 'source-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.tsx?$/ }, (args) => {
      if (!args.path.startsWith(root + sep) || args.path.includes(`${sep}node_modules${sep}`))
        return undefined;
      // Stat before reading: an edit after the stat shows as a changed time next start.
      const st = statSync(args.path);
      const text = readFileSync(args.path, 'utf8');
      read.set(relative(root, args.path), {
        sha256: sha256(text),
        size: st.size,
        mtimeMs: st.mtimeMs,
      });
      return {
        contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
        loader: args.path.endsWith('x') ? 'tsx' : 'ts',
      };
    });
  },
});

function readStamp(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Why the bundle at `out` cannot be used as it is (missing, stale and why), or undefined. */
export function bundleStale({ root, entry, out, esbuildVersion }) {
  if (!existsSync(out)) return 'no bundle yet';
  const stamp = readStamp(`${out}.json`);
  if (!stamp || stamp.version !== STAMP_VERSION) return 'the bundle carries no stamp';
  if (stamp.root !== root || stamp.entry !== relative(root, entry))
    return 'the bundle was built for another checkout or entry';
  if (stamp.esbuild !== esbuildVersion || stamp.builder !== BUILDER) return 'the bundler changed';
  for (const [dir, names] of Object.entries(stamp.dirs)) {
    let now;
    try {
      now = sourceFiles(join(root, dir));
    } catch {
      return `${dir}/ is gone`;
    }
    if (now.join('\n') !== names.join('\n')) return `files were added to or removed from ${dir}/`;
  }
  for (const [file, { sha256: hash, size, mtimeMs }] of Object.entries(stamp.inputs)) {
    const path = join(root, file);
    let st;
    try {
      st = statSync(path);
    } catch {
      return `${file} is gone`;
    }
    // Same size and time as when it was bundled: unchanged. Otherwise its content decides.
    if (st.size === size && st.mtimeMs === mtimeMs) continue;
    if (sha256(readFileSync(path)) !== hash) return `${file} changed`;
  }
  return undefined;
}

/** What the stamp keeps of an input: its hash, size and time (stat first, then read). */
function inputEntry(path) {
  const st = statSync(path);
  return { sha256: sha256(readFileSync(path)), size: st.size, mtimeMs: st.mtimeMs };
}

/** The version of the installed esbuild, without loading it. */
function esbuildVersion(root) {
  return JSON.parse(readFileSync(join(root, 'node_modules', 'esbuild', 'package.json'), 'utf8'))
    .version;
}

/**
 * The bundle of `entry` at `out`, built when missing or stale (said through `note`); resolves
 * with whether it was built, why, and how long the check (and build) took.
 */
export async function ensureBundle({ root, entry, out, note = () => undefined }) {
  const t0 = performance.now();
  const stale = bundleStale({ root, entry, out, esbuildVersion: esbuildVersion(root) });
  if (stale === undefined) return { built: false, ms: Math.round(performance.now() - t0) };
  const esbuild = await import('esbuild');
  note(`station: bundling the desktop command (${stale})`);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp.mjs`;
  const read = new Map();
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: tmp,
    external: EXTERNAL,
    // CommonJS packages bundled into an ES module find require() here.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    // No source map: Node would read it (5 MB) at every start for stack traces.
    sourcemap: false,
    metafile: true,
    logLevel: 'warning',
    plugins: [sourceUrls(root, read)],
  });
  const inputs = { 'package-lock.json': inputEntry(join(root, 'package-lock.json')) };
  const dirs = {};
  for (const rel of Object.keys(result.metafile.inputs).sort()) {
    // Packages are covered by package-lock.json.
    if (rel.split('/').includes('node_modules')) continue;
    inputs[rel] = read.get(rel) ?? inputEntry(join(root, rel));
    const dir = dirname(rel);
    dirs[dir] ??= sourceFiles(join(root, dir));
  }
  renameSync(tmp, out);
  writeFileSync(
    `${out}.json.${process.pid}`,
    JSON.stringify({
      version: STAMP_VERSION,
      root,
      entry: relative(root, entry),
      esbuild: esbuild.version,
      builder: BUILDER,
      inputs,
      dirs,
    }),
  );
  renameSync(`${out}.json.${process.pid}`, `${out}.json`);
  const ms = Math.round(performance.now() - t0);
  note(`station: bundled ${Object.keys(inputs).length} source files in ${ms} ms`);
  return { built: true, reason: stale, ms };
}
