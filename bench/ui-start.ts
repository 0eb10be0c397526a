/**
 * Time from starting browser mode to an interactive sign-in screen: the station process is
 * spawned, prints its page URL, Chromium loads the page, and the PIN field accepts typing.
 * Run: node bin/run-ts.mjs bench/ui-start.ts [runs]   (target: under 3 s)
 */
import { launchChromium, startBrowserMode } from '../test/helpers/browser.ts';

const runs = Number(process.argv[2] ?? 3);
const chromium = await launchChromium();
const times: { url: number; interactive: number }[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const station = await startBrowserMode();
    const urlAt = performance.now();
    try {
      const page = await chromium.context.newPage();
      await page.goto(station.url);
      await page.locator('#username').fill('x', { timeout: 10_000 });
      const done = performance.now();
      times.push({ url: urlAt - station.startedMs, interactive: done - station.startedMs });
      await page.close();
    } finally {
      await station.close();
    }
  }
} finally {
  await chromium.close();
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `ui-start: ${runs} runs; page URL printed after ${med(times.map((t) => t.url)).toFixed(0)} ms, ` +
    `sign-in interactive after ${med(times.map((t) => t.interactive)).toFixed(0)} ms (median; target < 3000 ms)`,
);
