/**
 * Time from `npm start` — the README's command, run as it is: npm, its prestart, then
 * scripts/start.mjs --dev (the station bundle and the renderer build checked, built when stale),
 * browser mode here since Electron cannot run — to an interactive sign-in screen: the page URL is
 * printed, Chromium (started beforehand, as a browser already open would be) loads it, and the
 * user field takes typing. Also the CPU time the station process had used when it printed the
 * URL (its own "ready" line), a measure the shared machine's load disturbs less than wall time.
 *
 * Cases: a fresh clone (no renderer/dist, no bundle in .cache/start: both built, then an empty
 * data directory seeded); the first start of a data directory (seeded, builds fresh); later
 * starts (the target); and, for comparison in the same conditions, later starts with
 * `npm start -- --vite` (Vite's development server). Median of `runs` runs each (fresh clone: at
 * most 2, each rebuilds).
 * Run: node bin/run-ts.mjs bench/ui-start.ts [runs]   (target: later starts under 3000 ms)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '../test/helpers/browser.ts';

const ROOT = join(import.meta.dirname, '..');
const runs = Number(process.argv[2] ?? 5);
const URL_LINE = /(http:\/\/127\.0\.0\.1:\d+\/\S*#port=\d+&token=[\w-]+)/;
const READY = /browser mode ready in \d+ ms \(process up (\d+) ms, CPU (\d+) ms\)/;
const chromium = await launchChromium();
const scratch = mkdtempSync(join(tmpdir(), 'station-ui-bench-'));
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Run {
  url: number;
  interactive: number;
  cpu: number;
}

/** `npm start` in its own process group, on `dataDir`; resolves once the sign-in takes typing. */
async function oneStart(dataDir: string, args: string[] = []): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, STATION_DATA_DIR: dataDir };
  for (const k of ['STATION_MODE', 'STATION_DEV_KEYS_PASSPHRASE', 'STATION_PIN']) delete env[k];
  const t0 = performance.now();
  const child = spawn('npm', ['start', ...(args.length ? ['--', ...args] : [])], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: 'pipe',
  });
  let out = '';
  try {
    const { url, urlAt } = await new Promise<{ url: string; urlAt: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no page URL in time:\n${out}`)), 120_000);
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = URL_LINE.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve({ url: m[1]!, urlAt: performance.now() });
        }
      });
      child.stderr.on('data', (b: Buffer) => (out += b.toString()));
      child.on('exit', (code) => reject(new Error(`npm start exited (${code}):\n${out}`)));
    });
    const page = await chromium.context.newPage();
    await page.goto(url);
    await page.locator('#username').fill('x', { timeout: 20_000 });
    const done = performance.now();
    await page.close();
    await new Promise<void>((resolve) => {
      const check = (): void => (READY.test(out) ? resolve() : void setTimeout(check, 10));
      check();
    });
    return { url: urlAt - t0, interactive: done - t0, cpu: Number(READY.exec(out)![2]) };
  } finally {
    // Ctrl-C to the whole group (npm, its shell, the station), then wait until all are gone.
    try {
      process.kill(-child.pid!, 'SIGINT');
    } catch {
      // Gone already.
    }
    for (;;) {
      try {
        process.kill(-child.pid!, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function report(label: string, times: Run[]): void {
  console.log(
    `ui-start (${label}): ${times.length} runs; page URL printed after ${med(times.map((t) => t.url)).toFixed(0)} ms, ` +
      `sign-in interactive after ${med(times.map((t) => t.interactive)).toFixed(0)} ms ` +
      `(station process CPU ${med(times.map((t) => t.cpu))} ms) (median; target < 3000 ms)`,
  );
}

const removeBuilds = (): void => {
  rmSync(join(ROOT, 'renderer', 'dist'), { recursive: true, force: true });
  rmSync(join(ROOT, '.cache', 'start'), { recursive: true, force: true });
};

try {
  const fresh: Run[] = [];
  for (let i = 0; i < Math.min(runs, 2); i++) {
    removeBuilds();
    fresh.push(await oneStart(join(scratch, `fresh-${i}`)));
  }
  report('fresh clone: builds the bundle and the renderer, seeds the data directory', fresh);
  const first: Run[] = [];
  for (let i = 0; i < runs; i++) first.push(await oneStart(join(scratch, `first-${i}`)));
  report('first start of a data directory: seeds it', first);
  const seeded = join(scratch, 'first-0');
  const later: Run[] = [];
  for (let i = 0; i < runs; i++) later.push(await oneStart(seeded));
  report('later starts', later);
  // For comparison, in the same conditions: Vite's development server (npm start -- --vite).
  const vite: Run[] = [];
  for (let i = 0; i < runs; i++) vite.push(await oneStart(seeded, ['--vite']));
  report('later starts, npm start -- --vite', vite);
} finally {
  await chromium.close();
  rmSync(scratch, { recursive: true, force: true });
}
