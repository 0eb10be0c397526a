/**
 * The renderer's production build for browser mode and a development run of Electron
 * (docs/desktop.md, "Browser mode"): renderer/dist is built with Vite when it is missing or
 * stale, and used as it is otherwise. Stale means the sources changed since it was built: the
 * build carries a fingerprint (`renderer/dist/.source-fingerprint`), a SHA-256 over every file of
 * renderer/ (its Vite config included) but dist/, the contract files the renderer imports, and
 * package-lock.json (the versions of React, Vite and the rest), with the hash of the index.html
 * it built. Builds are serialized, between processes by an operating-system lock in .cache/
 * (contracts/dir-lock.ts: dropped when its process ends, however it ends) and within one by a
 * queue, and land in renderer/dist in one rename, so two starts at once build once and never
 * serve a half build.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireDirLock, holderText, type LockHolder } from '../contracts/dir-lock.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const FINGERPRINT_FILE = '.source-fingerprint';

interface Stamp {
  fingerprint: string;
  /** SHA-256 of the index.html this build wrote (names the hashed assets it loads). */
  index: string;
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function filesUnder(dir: string, skip: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (skip(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p, () => false));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Relative imports of a source file (`from '../contracts/ipc.ts'`, `import('./x.ts')`). */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g))
    found.push(resolve(dirname(file), m[1]!));
  return found;
}

/**
 * The files the build depends on: renderer/ but dist/ (and dot entries), the files outside
 * renderer/ its sources import (the contract), transitively, and package-lock.json.
 */
export function rendererInputs(root = ROOT): string[] {
  const rendererDir = join(root, 'renderer');
  const own = filesUnder(rendererDir, (name) => name === 'dist' || name.startsWith('.'));
  const inputs = new Set(own);
  const queue = own.filter((f) => /\.(ts|tsx)$/.test(f));
  while (queue.length) {
    for (const dep of relativeImports(queue.pop()!)) {
      if (inputs.has(dep) || !existsSync(dep) || !statSync(dep).isFile()) continue;
      if (dep.startsWith(rendererDir + sep)) continue;
      inputs.add(dep);
      queue.push(dep);
    }
  }
  const lock = join(root, 'package-lock.json');
  if (existsSync(lock)) inputs.add(lock);
  return [...inputs].sort();
}

/** The fingerprint of the renderer's sources: what a build is stamped with. */
export function rendererFingerprint(root = ROOT): string {
  const h = createHash('sha256');
  for (const f of rendererInputs(root))
    h.update(`${relative(root, f)}\0${sha256(readFileSync(f))}\n`);
  return h.digest('hex');
}

/** Why renderer/dist cannot be served as it is (missing, or stale and why), or undefined. */
export function rendererBuildStale(root = ROOT): string | undefined {
  const dist = join(root, 'renderer', 'dist');
  const index = join(dist, 'index.html');
  if (!existsSync(index)) return 'renderer/dist is missing';
  let stamp: Stamp;
  try {
    stamp = JSON.parse(readFileSync(join(dist, FINGERPRINT_FILE), 'utf8')) as Stamp;
  } catch {
    return 'renderer/dist carries no source fingerprint';
  }
  if (stamp.index !== sha256(readFileSync(index))) return 'renderer/dist was rebuilt since';
  if (stamp.fingerprint !== rendererFingerprint(root))
    return 'the renderer sources changed since it was built';
  return undefined;
}

/** The lock file in `<root>/.cache` that serializes builds between processes. */
export const BUILD_LOCK_FILE = 'renderer-build.lck';

class BuildLockBusy extends Error {
  constructor(readonly holder: LockHolder | undefined) {
    super('the renderer build lock is held');
  }
}

/** The build this process runs or waits for last: builds in one process go one at a time. */
let queue: Promise<void> = Promise.resolve();

/**
 * Takes the renderer build lock: its turn in this process, then `<root>/.cache/renderer-build.lck`
 * (an operating-system lock: a builder that died, even by SIGKILL, leaves it free), waiting for
 * another builder up to `waitMs` (default 3 minutes). Resolves with its release.
 */
export async function rendererBuildLock(
  root: string,
  {
    note = () => undefined,
    waitMs = 180_000,
  }: { note?: (line: string) => void; waitMs?: number } = {},
): Promise<() => void> {
  let ours!: () => void;
  const turn = queue;
  queue = new Promise<void>((r) => (ours = r));
  await turn;
  const deadline = Date.now() + waitMs;
  let said = false;
  try {
    for (;;) {
      try {
        const lock = acquireDirLock(join(root, '.cache'), {
          file: BUILD_LOCK_FILE,
          command: 'renderer build',
          refused: (_dir, holder) => new BuildLockBusy(holder),
        });
        return () => {
          lock.release();
          ours();
        };
      } catch (e) {
        if (!(e instanceof BuildLockBusy)) throw e;
        if (Date.now() > deadline)
          throw new Error(
            `another process has been building the renderer for ${Math.round(waitMs / 1000)} s: ${holderText(e.holder)}`,
          );
        if (!said)
          note(`renderer: ${holderText(e.holder)} is building renderer/dist; waiting for it`);
        said = true;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    ours();
    throw e;
  }
}

export interface RendererBuild {
  /** Whether this call built it (false: it was fresh). */
  built: boolean;
  /** Why it was built. */
  reason?: string;
  ms: number;
}

/**
 * renderer/dist, built when missing or stale (said through `note`, with the time it took), and
 * left alone when fresh (a fingerprint of about 70 files: a few milliseconds).
 */
export async function ensureRendererBuild(
  opts: { root?: string; note?: (line: string) => void } = {},
): Promise<RendererBuild> {
  const root = opts.root ?? ROOT;
  const note = opts.note ?? (() => undefined);
  const t0 = performance.now();
  if (rendererBuildStale(root) === undefined)
    return { built: false, ms: Math.round(performance.now() - t0) };
  const release = await rendererBuildLock(root, { note });
  try {
    const reason = rendererBuildStale(root);
    if (reason === undefined) return { built: false, ms: Math.round(performance.now() - t0) };
    note(`renderer: building renderer/dist (${reason})`);
    const fingerprint = rendererFingerprint(root);
    const tmp = join(root, '.cache', `renderer-dist-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    const { build } = await import('vite');
    // A production build whatever the caller's NODE_ENV (vitest sets it to "test", and Vite and
    // the React plugin would then build React's development version).
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await build({
        configFile: join(root, 'renderer', 'vite.config.ts'),
        root: join(root, 'renderer'),
        mode: 'production',
        logLevel: 'warn',
        build: { outDir: tmp, emptyOutDir: true },
      });
    } finally {
      if (nodeEnv === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = nodeEnv;
    }
    const stamp: Stamp = { fingerprint, index: sha256(readFileSync(join(tmp, 'index.html'))) };
    writeFileSync(join(tmp, FINGERPRINT_FILE), JSON.stringify(stamp) + '\n');
    const dist = join(root, 'renderer', 'dist');
    const old = join(root, '.cache', `renderer-dist-old-${process.pid}`);
    rmSync(old, { recursive: true, force: true });
    if (existsSync(dist)) renameSync(dist, old);
    renameSync(tmp, dist);
    rmSync(old, { recursive: true, force: true });
    const ms = Math.round(performance.now() - t0);
    note(`renderer: built renderer/dist in ${ms} ms`);
    return { built: true, reason, ms };
  } finally {
    release();
  }
}
