/**
 * The data page's raster for the printer, CPU per page: drawn whole (`rasterizeDataPage`) against
 * drawn in layers (`rasterizeDataPageLayers`: the fixed layer kept, the holder's data drawn in
 * its boxes), each encoded as the printer gets it (MONO1, compressed). Random applications with
 * portrait and signature at 300 dpi; medians of process CPU (user + system) per page, and the
 * layered page's CPU by part (values, portrait, signature, MRZ, encoding).
 *
 *   node bin/run-ts.mjs bench/data-page-raster.ts [pages (default 40)]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePage } from '../drivers/page-transfer.ts';
import { mrzOf } from '../mrtd/application.ts';
import { type DataPageLayers, dataPageLayers } from '../mrtd/data-page.ts';
import { rasterizeDataPage, rasterizeDataPageLayers } from '../mrtd/data-page-raster.ts';
import { seededRandom } from '../simulator/camera.ts';
import { randomApplication } from '../simulator/camera-specimens.ts';

const pages = Number(process.argv[2] ?? 40);
const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');
const face = readFileSync(join(fixtures, 'face.jpg'));
const signature = readFileSync(join(fixtures, 'signature.jpg'));

const layersOf = (i: number): DataPageLayers => {
  const app = randomApplication(seededRandom(9000 + i));
  return dataPageLayers({
    application: app,
    documentNumber: app.documentNumber,
    mrz: mrzOf(app),
    face,
    signature,
    issuingStateName: 'República del Perú',
  });
};

function cpuMs(f: () => void): number {
  const c = process.cpuUsage();
  f();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1000;
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const all = Array.from({ length: pages }, (_, i) => layersOf(i));
// Warm up both paths (the fixed layer is drawn here, once).
encodePage(rasterizeDataPage(all[0]!.svg));
encodePage(rasterizeDataPageLayers(all[0]!));

const whole: number[] = [];
const layered: number[] = [];
const parts = new Map<string, number[]>();
const part = (name: string, ms: number): void => {
  parts.set(name, [...(parts.get(name) ?? []), ms]);
};
for (const layers of all) {
  whole.push(cpuMs(() => encodePage(rasterizeDataPage(layers.svg))));
  layered.push(cpuMs(() => encodePage(rasterizeDataPageLayers(layers))));
  const kind = (svg: string): string =>
    svg.includes("'OCR B'")
      ? 'MRZ'
      : svg.includes('width="35"')
        ? 'portrait'
        : svg.includes('<image')
          ? 'signature'
          : 'values';
  for (const name of ['values', 'portrait', 'signature', 'MRZ']) {
    const overlays = layers.overlays.filter((o) => kind(o.svg) === name);
    part(
      name,
      cpuMs(() => rasterizeDataPageLayers({ ...layers, overlays })),
    );
  }
  const r = rasterizeDataPageLayers(layers);
  part(
    'encoding',
    cpuMs(() => encodePage(r)),
  );
}
const w = median(whole);
const l = median(layered);
console.log(`${pages} data pages at 300 dpi, MONO1, CPU per page (median, user + system):`);
console.log(`  drawn whole:     ${w.toFixed(1)} ms`);
console.log(`  drawn in layers: ${l.toFixed(1)} ms (${(w / l).toFixed(2)} times less)`);
console.log(
  `  layers by part:  ${[...parts].map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', ')} ms`,
);
