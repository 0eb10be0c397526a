/**
 * The simulated printer camera against printed data pages: N random valid applications (seeded,
 * repeatable) are laid out, rasterized at the printer's 300 dpi and read back from the image,
 * clean and under each print fault at increasing strength. Reports per strength the share of
 * MRZ lines read exactly, the character error rate, the share the reader calls readable, and
 * the dangerous case (called readable but wrong). Also the median time to lay out + rasterize
 * one page and to read one MRZ. Target: every clean page reads back exactly.
 *
 *   node bin/run-ts.mjs bench/mrz-camera.ts [pages]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mrzOf } from '../mrtd/application.ts';
import { dataPageSvg } from '../mrtd/data-page.ts';
import { rasterizeDataPage } from '../mrtd/data-page-raster.ts';
import { randomApplication } from '../simulator/camera-specimens.ts';
import { type PrintFaults, readMrz, seededRandom } from '../simulator/camera.ts';

const pages = Number(process.argv[2] ?? 200);
const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');
const face = readFileSync(join(fixtures, 'face.jpg'));
const signature = readFileSync(join(fixtures, 'signature.jpg'));

const cases: { label: string; faults?: PrintFaults }[] = [
  { label: 'clean' },
  ...[1, 2, 3, 4, 6, 8, 12].map((s) => ({ label: `smear ${s} px`, faults: { smear: s } })),
  ...[0.1, 0.2, 0.3, 0.4, 0.5, 0.6].map((f) => ({ label: `fade ${f}`, faults: { fade: f } })),
  ...[3, 10, 30, 60].map((d) => ({
    label: `shift ${d},${-Math.round(d / 2)} px`,
    faults: { shift: { dx: d, dy: -Math.round(d / 2) } },
  })),
];
interface Tally {
  lines: number;
  exactLines: number;
  chars: number;
  charErrors: number;
  readable: number;
  readableWrong: number;
}
const tally = new Map<string, Tally>(
  cases.map((c) => [
    c.label,
    { lines: 0, exactLines: 0, chars: 0, charErrors: 0, readable: 0, readableWrong: 0 },
  ]),
);
const renderMs: number[] = [];
const readMs: number[] = [];
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rnd = seededRandom(2026);
for (let p = 0; p < pages; p++) {
  const app = randomApplication(rnd);
  const mrz = mrzOf(app);
  const want = [mrz.line1, mrz.line2];
  let t = performance.now();
  const raster = rasterizeDataPage(
    dataPageSvg({ application: app, documentNumber: app.documentNumber, mrz, face, signature }),
  );
  renderMs.push(performance.now() - t);
  for (const c of cases) {
    const faults = c.faults && { ...c.faults, seed: p + 1 };
    t = performance.now();
    const r = readMrz(raster, faults ? { faults } : {});
    if (!c.faults) readMs.push(performance.now() - t);
    const x = tally.get(c.label)!;
    let allExact = true;
    for (let l = 0; l < 2; l++) {
      const got = r.lines[l] ?? '';
      x.lines++;
      if (got === want[l]) x.exactLines++;
      else allExact = false;
      for (let i = 0; i < 44; i++) {
        x.chars++;
        if (got[i] !== want[l]![i]) x.charErrors++;
      }
    }
    if (r.readable) {
      x.readable++;
      if (!allExact) x.readableWrong++;
    }
  }
}

const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(1)}%`;
console.log(`${pages} random valid MRZs on full data pages at 300 dpi (seed 2026)`);
console.log('fault            exact lines   char errors   readable   readable but wrong');
for (const c of cases) {
  const x = tally.get(c.label)!;
  console.log(
    `${c.label.padEnd(16)} ${pct(x.exactLines, x.lines).padStart(11)} ${pct(x.charErrors, x.chars).padStart(13)} ${pct(x.readable, pages).padStart(10)} ${String(x.readableWrong).padStart(20)}`,
  );
}
const clean = tally.get('clean')!;
console.log(
  `lay out + rasterize one page: median ${median(renderMs).toFixed(1)} ms; read one MRZ: median ${median(readMs).toFixed(1)} ms`,
);
console.log(
  `target every clean page read exactly: ${clean.exactLines === clean.lines ? 'met' : 'NOT met'} (${clean.exactLines / 2}/${pages})`,
);
if (clean.exactLines !== clean.lines) process.exitCode = 1;
