import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mrzOf } from '../mrtd/application.ts';
import { dataPageSvg, mrzOnlySvg } from '../mrtd/data-page.ts';
import { type PageRaster, rasterizeDataPage } from '../mrtd/data-page-raster.ts';
import { randomApplication } from './camera-specimens.ts';
import { type PrintFaults, readMrz, seededRandom } from './camera.ts';

const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');
const face = readFileSync(join(fixtures, 'face.jpg'));
const signature = readFileSync(join(fixtures, 'signature.jpg'));

function printed(seed: number): { lines: string[]; raster: PageRaster } {
  const app = randomApplication(seededRandom(seed));
  const mrz = mrzOf(app);
  const svg = dataPageSvg({
    application: app,
    documentNumber: app.documentNumber,
    mrz,
    face,
    signature,
  });
  return { lines: [mrz.line1, mrz.line2], raster: rasterizeDataPage(svg) };
}

describe('simulated camera (MRZ read from the printed raster)', () => {
  it('reads 20 random clean data pages exactly, every character certain', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { lines, raster } = printed(seed);
      const r = readMrz(raster);
      expect(r.lines, `seed ${seed}`).toEqual(lines);
      expect(r.readable, `seed ${seed}`).toBe(true);
      expect(r.unreadable).toEqual([]);
    }
  });

  it('reads the image, not a text: a page printed with another MRZ reads as that MRZ', () => {
    const a = printed(101);
    const b = printed(102);
    expect(readMrz(b.raster).lines).toEqual(b.lines);
    expect(readMrz(b.raster).lines).not.toEqual(a.lines);
  });

  it('finds the MRZ when the print is shifted by a few pixels or by millimetres', () => {
    const { lines, raster } = printed(7);
    for (const shift of [
      { dx: 2, dy: -1 },
      { dx: -9, dy: 6 },
      { dx: 45, dy: -25 },
    ]) {
      const r = readMrz(raster, { faults: { shift } });
      expect(r.lines, JSON.stringify(shift)).toEqual(lines);
      expect(r.readable).toBe(true);
    }
  });

  it('never reports a heavily smeared or faded MRZ as read and equal', () => {
    const { lines, raster } = printed(3);
    const heavy: PrintFaults[] = [{ smear: 14 }, { smear: 24 }, { fade: 0.7 }, { fade: 0.9 }];
    for (const faults of heavy) {
      const r = readMrz(raster, { faults });
      const silentlyEqual = r.readable && r.lines.join('\n') === lines.join('\n');
      expect(silentlyEqual, JSON.stringify(faults)).toBe(false);
      expect(r.readable, JSON.stringify(faults)).toBe(false);
      expect(r.unreadable.length + (r.reason ? 1 : 0)).toBeGreaterThan(0);
    }
  });

  it('a light smear still reads exactly (confidence drops, the text does not change)', () => {
    const { lines, raster } = printed(4);
    const r = readMrz(raster, { faults: { smear: 2 } });
    expect(r.lines).toEqual(lines);
    const clean = readMrz(raster);
    const min = (x: typeof r): number => Math.min(...x.chars.flat().map((c) => c.confidence));
    expect(min(r)).toBeLessThan(min(clean));
  });

  it('is deterministic: the same print, faults and seed give the same reading', () => {
    const { raster } = printed(5);
    const faults = { fade: 0.45, smear: 3, seed: 9 };
    expect(readMrz(raster, { faults })).toEqual(readMrz(raster, { faults }));
  });

  it('reads a bilevel print (pure ink on paper, as a 1-bit printer prints)', () => {
    const { lines, raster } = printed(8);
    const rgba = raster.rgba.map((v, i) => (i % 4 === 3 ? 255 : v < 128 ? 0 : 255));
    const r = readMrz({ ...raster, rgba });
    expect(r.reason).toBeUndefined();
    expect(r.lines).toEqual(lines);
    expect(r.readable).toBe(true);
  });

  it('says why a page without an MRZ cannot be read', () => {
    const blank = rasterizeDataPage(mrzOnlySvg(['', '']));
    const r = readMrz(blank);
    expect(r.readable).toBe(false);
    expect(r.reason).toMatch(/blank|code line/);
    expect(r.lines).toEqual([]);
  });

  it('does not change the raster it reads (faults apply to a copy of the zone)', () => {
    const { raster } = printed(6);
    const before = Buffer.from(raster.rgba);
    readMrz(raster, { faults: { smear: 10, fade: 0.5, shift: { dx: 5, dy: 5 } } });
    expect(Buffer.from(raster.rgba).equals(before)).toBe(true);
  });
});
