/**
 * The data page printed in layers (the fixed layer drawn once, the holder's data over it) is the
 * page drawn whole: over random applications (accented and long names fitted to their cells,
 * with and without signature, personal number, place of birth) and two issuing States, the MONO1
 * page the printer gets is the whole page's but for a few pixels of anti-aliasing rounding, and
 * so is its grey page. The fixed layers are kept by their SVG, so two States
 * alternating never get each other's header.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodePage } from '../drivers/page-transfer.ts';
import { type Application, mrzOf } from '../mrtd/application.ts';
import { DATA_PAGE_FONT_DIR, DATA_PAGE_LATIN_VALUES, dataPageLayers } from '../mrtd/data-page.ts';
import { rasterizeDataPage, rasterizeDataPageLayers } from '../mrtd/data-page-raster.ts';
import { seededRandom } from '../simulator/camera.ts';
import { randomApplication } from '../simulator/camera-specimens.ts';

const fixtures = join(import.meta.dirname, 'fixtures/mrtd');
const face = readFileSync(join(fixtures, 'face.jpg'));
const signature = readFileSync(join(fixtures, 'signature.jpg'));

function page(seed: number): Parameters<typeof dataPageLayers>[0] {
  const app: Application = randomApplication(seededRandom(7000 + seed));
  if (seed % 3 === 0) app.additionalPersonalDetails = { placeOfBirth: 'San Martín de Porres' };
  if (seed === 4) app.surname = 'MÜLLER GARCÍA ZÚÑIGA DE LA SANTÍSIMA TRINIDAD ÑAÑEZ ÇOLAK';
  // Characters the Latin cut of the value font lacks: that value is drawn from the whole font.
  if (seed === 5) app.additionalPersonalDetails = { placeOfBirth: 'Ωmega № 5 Ǆ' };
  return {
    application: app,
    documentNumber: app.documentNumber,
    mrz: mrzOf(app),
    face,
    ...(seed % 4 === 1 ? {} : { signature }),
    issuingStateName: seed % 2 ? 'República del Perú' : 'Utopía',
  };
}

const differingBits = (a: Uint8Array, b: Uint8Array): number => {
  let n = 0;
  for (let i = 0; i < a.length; i++) for (let x = a[i]! ^ b[i]!; x; x &= x - 1) n++;
  return n;
};

describe('the data page in layers', () => {
  it.each([0, 1, 2, 3, 4, 5])('prints as the whole page (page %i)', (seed) => {
    const layers = dataPageLayers(page(seed));
    const whole = rasterizeDataPage(layers.svg);
    const layered = rasterizeDataPageLayers(layers);
    expect({ width: layered.width, height: layered.height }).toEqual({
      width: whole.width,
      height: whole.height,
    });
    // The holder's data is all in overlays: the fixed layer, kept between pages, holds no field
    // value, image nor MRZ of anybody.
    const { application } = page(seed);
    expect(layers.fixedSvg).not.toContain(application.documentNumber);
    for (const word of application.surname.toUpperCase().split(' '))
      if (word.length > 3) expect(layers.fixedSvg).not.toContain(word);
    expect(layers.fixedSvg).not.toContain('zone-VII"><');
    expect(layers.fixedSvg).not.toContain('<image');
    expect(layers.overlays.length).toBeGreaterThan(10);

    const mono = (r: Parameters<typeof encodePage>[0]): Uint8Array =>
      new Uint8Array(inflateSync(encodePage(r, 'mono1').data));
    // An edge drawn alone in an overlay may fall on the other side of one of the anti-aliasing's
    // four sub-samples (a quarter of a pixel's coverage, 64 grey levels): a few pixels a page.
    expect(differingBits(mono(layered), mono(whole))).toBeLessThanOrEqual(32);

    const a = inflateSync(encodePage(layered, 'grey8').data);
    const b = inflateSync(encodePage(whole, 'grey8').data);
    let differing = 0;
    let most = 0;
    for (let i = 0; i < a.length; i++)
      if (a[i] !== b[i]) {
        differing++;
        most = Math.max(most, Math.abs(a[i]! - b[i]!));
      }
    expect(differing).toBeLessThan(a.length / 10_000);
    expect(most).toBeLessThanOrEqual(64);
  });

  it('draws field values from the Latin cut the script makes, byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'font-cut-'));
    try {
      const out = join(dir, 'cut.ttf');
      execFileSync(process.execPath, [
        join(import.meta.dirname, '../scripts/subset-fonts.mjs'),
        out,
      ]);
      expect(readFileSync(out)).toEqual(
        readFileSync(DATA_PAGE_FONT_DIR + DATA_PAGE_LATIN_VALUES.file),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const layers = dataPageLayers(page(5));
    const files = (text: string): string[] =>
      layers.overlays.find((o) => o.svg.includes(text))!.fontFiles;
    expect(files('ΩMEGA')).toEqual([DATA_PAGE_FONT_DIR + 'DejaVuSansCondensed.ttf']);
    expect(files('SUPERINTENDENCIA')).toEqual([DATA_PAGE_FONT_DIR + DATA_PAGE_LATIN_VALUES.file]);
  });
});
