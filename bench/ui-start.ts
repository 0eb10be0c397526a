/**
 * Time from starting browser mode (`station desktop --dev --browser`, what `npm start` runs
 * here) to an interactive sign-in screen: the station process is spawned, prints its page URL,
 * Chromium loads the page, and the user field accepts typing. Three cases: the first start on
 * an empty data directory (it seeds a development station) with Vite's development server; a
 * start on the seeded station with Vite; and with the production build (`--built`, after
 * `npm run build:renderer`).
 * Run: node bin/run-ts.mjs bench/ui-start.ts [runs]   (target: under 3 s)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, startBrowserMode } from '../test/helpers/browser.ts';

const runs = Number(process.argv[2] ?? 3);
const chromium = await launchChromium();
const seeded = mkdtempSync(join(tmpdir(), 'station-ui-bench-'));
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(label: string, opts: { dataDir?: string; args?: string[] }): Promise<void> {
  const times: { url: number; interactive: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const station = await startBrowserMode(opts);
    const urlAt = performance.now();
    try {
      const page = await chromium.context.newPage();
      await page.goto(station.url);
      await page.locator('#username').fill('x', { timeout: 20_000 });
      const done = performance.now();
      times.push({ url: urlAt - station.startedMs, interactive: done - station.startedMs });
      await page.close();
    } finally {
      await station.close();
    }
  }
  console.log(
    `ui-start (${label}): ${runs} runs; page URL printed after ${med(times.map((t) => t.url)).toFixed(0)} ms, ` +
      `sign-in interactive after ${med(times.map((t) => t.interactive)).toFixed(0)} ms (median; target < 3000 ms)`,
  );
}

try {
  await measure('first start, empty data directory, Vite', {});
  // Seed once, then measure starts on the seeded station.
  const first = await startBrowserMode({ dataDir: seeded });
  await first.close();
  await measure('seeded station, Vite', { dataDir: seeded });
  await measure('seeded station, --built', { dataDir: seeded, args: ['--built'] });
} finally {
  await chromium.close();
  rmSync(seeded, { recursive: true, force: true });
}
