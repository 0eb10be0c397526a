/**
 * Data page transfer: a full data page (portrait, signature, MRZ) rasterized at 300 dpi, sent
 * with PrinterClient.printPage through the real serial stack over socat, on the zero-latency
 * and the throttled (115200 baud 8N1) profiles, in both pixel formats. Prints the compressed
 * page, the bytes of its command frames on the wire, the time from BEGIN to the COMMIT's answer
 * and, on the throttled line, its ratio to the frames' own time on the wire. Mechanics are
 * instant on both profiles: this is the transfer alone.
 *
 *   node bin/run-ts.mjs bench/print-page.ts [runs]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSerialLink } from '../drivers/open.ts';
import type { PageFormatName } from '../drivers/page-transfer.ts';
import { claimPermitAuthority } from '../drivers/permit.ts';
import { PrinterClient } from '../drivers/printer.ts';
import { mrzOf } from '../mrtd/application.ts';
import { dataPageSvg } from '../mrtd/data-page.ts';
import { rasterizeDataPage } from '../mrtd/data-page-raster.ts';
import { seededRandom } from '../simulator/camera.ts';
import { randomApplication } from '../simulator/camera-specimens.ts';
import { makeBooklet, startSimulator } from '../simulator/index.ts';

const runs = Number(process.argv[2] ?? 5);
// A drivers-only benchmark: no station (and no device gate) runs in this process.
const permits = claimPermitAuthority();
const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');
const face = readFileSync(join(fixtures, 'face.jpg'));
const signature = readFileSync(join(fixtures, 'signature.jpg'));
const pages = Array.from({ length: runs }, (_, i) => {
  const app = randomApplication(seededRandom(1000 + i));
  const mrz = mrzOf(app);
  const svg = dataPageSvg({
    application: app,
    documentNumber: app.documentNumber,
    mrz,
    face,
    signature,
  });
  return { raster: rasterizeDataPage(svg), mrz: [mrz.line1, mrz.line2] };
});

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(
  profile: 'zero-latency' | 'throttled',
  format: PageFormatName,
): Promise<void> {
  const booklets = pages.map((_, i) => makeBooklet({ serial: `PP${5000001 + i}` }));
  const sim = await startSimulator({
    hopper: { version: 1, booklets },
    profile,
    transportLock: false,
  });
  const link = await openSerialLink(sim.stationPath);
  const printer = new PrinterClient(link);
  const permit = permits.mint({
    purpose: 'print benchmark',
    operations: ['FEED', 'MOVE_TO_ENCODER', 'PRINT_DATA_PAGE', 'EJECT'],
    links: [link],
  });
  const times: number[] = [];
  const wire: number[] = [];
  const page: number[] = [];
  let frames = 0;
  try {
    for (const p of pages) {
      await printer.feed(permit);
      await printer.moveToEncoder(permit);
      const t0 = performance.now();
      const report = await printer.printPage(p.raster, permit, { format });
      times.push(performance.now() - t0);
      wire.push(report.wireBytes);
      page.push(report.pageBytes);
      frames = report.frames;
      const read = await printer.readMrz();
      if (read.join('\n') !== p.mrz.join('\n')) throw new Error('the MRZ read back differs');
      await printer.eject('output', permit);
    }
  } finally {
    await link.close();
    await sim.close();
  }
  const wireMs = (median(wire) * 10 * 1000) / 115200;
  console.log(
    `${profile.padEnd(12)} ${format}: page ${median(page)} bytes, ${frames} frames, ` +
      `${median(wire)} bytes on the wire, median ${median(times).toFixed(0)} ms` +
      (profile === 'throttled'
        ? ` (wire time ${wireMs.toFixed(0)} ms, ratio ${(median(times) / wireMs).toFixed(2)})`
        : ''),
  );
}

for (const format of ['mono1', 'grey8'] as const)
  for (const profile of ['zero-latency', 'throttled'] as const) await measure(profile, format);
