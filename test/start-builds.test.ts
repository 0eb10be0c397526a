/**
 * What `npm start` builds before the sign-in screen, and when: the renderer's production build
 * (cli/renderer-build.ts) and the bundle of the desktop command (scripts/station-bundle.mjs).
 * Each is built when missing or stale and used as it is otherwise; stale means a source it was
 * built from changed (the renderer: its files, the contract files it imports, package-lock.json;
 * the bundle: every source file it holds, or a file added beside them).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureRendererBuild,
  FINGERPRINT_FILE,
  rendererBuildLock,
  rendererBuildStale,
  rendererInputs,
} from '../cli/renderer-build.ts';
import { ensureBundle } from '../scripts/station-bundle.mjs';

const ROOT = join(import.meta.dirname, '..');
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'start-builds-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const write = (root: string, file: string, text: string): void => {
  mkdirSync(join(root, file, '..'), { recursive: true });
  writeFileSync(join(root, file), text);
};

describe('the renderer build lock', () => {
  it('is one build at a time in a process, and waits for another process until it ends, however it ends', async () => {
    const root = mkdtempSync(join(tmp, 'lock-'));
    // In one process: the second waits for the first's release.
    const first = await rendererBuildLock(root);
    let second: (() => void) | undefined;
    const waiting = rendererBuildLock(root).then((r) => (second = r));
    await new Promise((r) => setTimeout(r, 300));
    expect(second).toBeUndefined();
    first();
    await waiting;
    second!();

    // Another process holds it: this one waits (and says for whom), then takes it once that
    // process is killed; a builder killed never leaves it taken.
    const script = join(root, 'hold.mts');
    writeFileSync(
      script,
      `import { rendererBuildLock } from ${JSON.stringify(pathToFileURL(join(ROOT, 'cli/renderer-build.ts')).href)};\n` +
        `await rendererBuildLock(${JSON.stringify(root)});\nconsole.log('held');\nsetInterval(() => {}, 1000);\n`,
    );
    const child = spawn(process.execPath, [join(ROOT, 'bin/run-ts.mjs'), script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
        child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });
      await expect(rendererBuildLock(root, { waitMs: 300 })).rejects.toThrow(
        new RegExp(`building the renderer for 0 s: "renderer build" \\(process ${child.pid} `),
      );
      const notes: string[] = [];
      let taken: (() => void) | undefined;
      const later = rendererBuildLock(root, { note: (l) => notes.push(l) }).then(
        (r) => (taken = r),
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(taken).toBeUndefined();
      expect(notes).toEqual([expect.stringContaining(`(process ${child.pid} `)]);
      child.kill('SIGKILL');
      await later;
      taken!();
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('the renderer build', () => {
  it('depends on renderer/ but dist, the contract files it imports, and package-lock.json', () => {
    const root = join(tmp, 'fingerprint');
    write(root, 'renderer/main.tsx', "import type { A } from '../contracts/ipc.ts';\n");
    write(root, 'renderer/vite.config.ts', 'export default {};\n');
    write(root, 'renderer/dist/index.html', '<html></html>');
    write(root, 'contracts/ipc.ts', "import { b } from './strict.ts';\nexport type A = 1;\n");
    write(root, 'contracts/strict.ts', 'export const b = 1;\n');
    write(root, 'contracts/sync.ts', 'export const unrelated = 1;\n');
    write(root, 'package-lock.json', '{}');
    expect(rendererInputs(root).map((f) => f.slice(root.length + 1))).toEqual([
      'contracts/ipc.ts',
      'contracts/strict.ts',
      'package-lock.json',
      'renderer/main.tsx',
      'renderer/vite.config.ts',
    ]);
    expect(rendererBuildStale(root)).toBe('renderer/dist carries no source fingerprint');
  });

  it('builds when missing or stale, and not when fresh', async () => {
    // A copy of the real renderer, with the contract and the packages it builds from.
    const root = join(tmp, 'build');
    cpSync(join(ROOT, 'renderer'), join(root, 'renderer'), {
      recursive: true,
      filter: (src) => !src.startsWith(join(ROOT, 'renderer', 'dist')),
    });
    cpSync(join(ROOT, 'contracts'), join(root, 'contracts'), { recursive: true });
    cpSync(join(ROOT, 'package-lock.json'), join(root, 'package-lock.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
    expect(rendererBuildStale(root)).toBe('renderer/dist is missing');
    // The first build in a process of its own whose NODE_ENV is not "production", as a station
    // started from a test (or a shell that sets it) has.
    const script = join(root, 'build.mts');
    writeFileSync(
      script,
      `import { ensureRendererBuild } from ${JSON.stringify(join(ROOT, 'cli', 'renderer-build.ts'))};\n` +
        'const notes: string[] = [];\n' +
        'const r = await ensureRendererBuild({ root: process.argv[2], note: (l) => notes.push(l) });\n' +
        'console.log(JSON.stringify({ ...r, notes }));\n',
    );
    const child = spawnSync(process.execPath, [join(ROOT, 'bin', 'run-ts.mjs'), script, root], {
      env: { ...process.env, NODE_ENV: 'test' },
      encoding: 'utf8',
    });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toMatchObject({
      built: true,
      reason: 'renderer/dist is missing',
      notes: ['renderer: building renderer/dist (renderer/dist is missing)', expect.any(String)],
    });
    expect(readFileSync(join(root, 'renderer', 'dist', 'index.html'), 'utf8')).toContain(
      'Content-Security-Policy',
    );
    // React's production build all the same.
    const assets = join(root, 'renderer', 'dist', 'assets');
    for (const f of readdirSync(assets).filter((n) => n.endsWith('.js')))
      expect(readFileSync(join(assets, f), 'utf8'), f).not.toContain('jsxDEV');
    expect(
      JSON.parse(readFileSync(join(root, 'renderer', 'dist', FINGERPRINT_FILE), 'utf8')),
    ).toMatchObject({ fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await ensureRendererBuild({ root })).toMatchObject({ built: false });
    // The contract changes: the renderer is built again.
    const ipc = join(root, 'contracts', 'ipc.ts');
    writeFileSync(ipc, readFileSync(ipc, 'utf8') + '\n// changed\n');
    expect(rendererBuildStale(root)).toBe('the renderer sources changed since it was built');
    expect(await ensureRendererBuild({ root })).toMatchObject({ built: true });
    expect(rendererBuildStale(root)).toBeUndefined();
    // A build that is not this one (index.html changed): built again.
    const index = join(root, 'renderer', 'dist', 'index.html');
    writeFileSync(index, readFileSync(index, 'utf8') + '<!-- -->');
    expect(rendererBuildStale(root)).toBe('renderer/dist was rebuilt since');
  }, 120_000);
});

describe("the desktop command's bundle", () => {
  it('is built when missing or a source changes or is added, and keeps each module’s import.meta.url', async () => {
    const root = join(tmp, 'bundle');
    mkdirSync(root);
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
    write(root, 'package-lock.json', '{}');
    write(root, 'entry.ts', "export { readAsset } from './lib/asset.ts';\n");
    write(
      root,
      'lib/asset.ts',
      "import { readFileSync } from 'node:fs';\n" +
        "export const readAsset = (): string => readFileSync(new URL('./asset.txt', import.meta.url), 'utf8');\n",
    );
    write(root, 'lib/asset.txt', 'found beside its module');
    const opts = { root, entry: join(root, 'entry.ts'), out: join(root, '.cache', 'b.mjs') };
    expect(await ensureBundle(opts)).toMatchObject({ built: true, reason: 'no bundle yet' });
    const mod = (await import(pathToFileURL(opts.out).href)) as { readAsset: () => string };
    expect(mod.readAsset()).toBe('found beside its module');
    expect(await ensureBundle(opts)).toMatchObject({ built: false });
    // Touched, same content: still fresh.
    utimesSync(join(root, 'lib', 'asset.ts'), new Date(), new Date(Date.now() + 5_000));
    expect(await ensureBundle(opts)).toMatchObject({ built: false });
    write(root, 'lib/asset.ts', readFileSync(join(root, 'lib', 'asset.ts'), 'utf8') + '// edit\n');
    expect(await ensureBundle(opts)).toMatchObject({ built: true, reason: 'lib/asset.ts changed' });
    write(root, 'lib/scenario.ts', 'export const s = 1;\n');
    expect(await ensureBundle(opts)).toMatchObject({
      built: true,
      reason: 'files were added to or removed from lib/',
    });
    write(root, 'package-lock.json', '{"lockfileVersion": 3}');
    expect(await ensureBundle(opts)).toMatchObject({
      built: true,
      reason: 'package-lock.json changed',
    });
  }, 60_000);
});
