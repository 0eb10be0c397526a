/**
 * The data page printed in layers (the fixed layer drawn once, the holder's data over it) is the
 * page drawn whole: over random applications (accented and long names fitted to their cells,
 * with and without signature, personal number, place of birth) and two issuing States, the MONO1
 * page the printer gets is the whole page's but for a few pixels of anti-aliasing rounding, and
 * so is its grey page. The portrait and the signature are resampled bilinearly where resvg
 * filters bicubically: there each grey level stays within a few of the whole page's (a pixel's
 * shift or a 1 % scale error is tens of levels). The fixed layers are kept by their SVG, so two
 * States alternating never get each other's header.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodePage } from '../drivers/page-transfer.ts';
import { type Application, mrzOf } from '../mrtd/application.ts';
import {
  DATA_PAGE_FONT_DIR,
  DATA_PAGE_LATIN_VALUES,
  TD3_PAGE,
  dataPageLayers,
  vizDate,
} from '../mrtd/data-page.ts';
import {
  type PlacedRaster,
  drawOverlay,
  rasterizeDataPage,
  rasterizeDataPageLayers,
} from '../mrtd/data-page-raster.ts';
import { seededRandom } from '../simulator/camera.ts';
import { randomApplication } from '../simulator/camera-specimens.ts';

const fixtures = join(import.meta.dirname, 'fixtures/mrtd');
const face = readFileSync(join(fixtures, 'face.jpg'));
const signature = readFileSync(join(fixtures, 'signature.jpg'));
/**
 * A larger portrait (300 x 400), the portrait as signature (reduced three times into the
 * signature's band) and a wide picture as portrait (centred vertically).
 */
const bigFace = readFileSync(join(fixtures, 'face-20k.jpg'));

function page(seed: number): Parameters<typeof dataPageLayers>[0] {
  const app: Application = randomApplication(seededRandom(7000 + seed));
  if (seed % 3 === 0) app.additionalPersonalDetails = { placeOfBirth: 'San Martín de Porres' };
  // Dates of issue of the same width: the kept drawing of one must not stand for another.
  app.additionalDocumentDetails = {
    ...app.additionalDocumentDetails,
    dateOfIssue: `2026-03-1${seed % 10}`,
  };
  if (seed === 4) app.surname = 'MÜLLER GARCÍA ZÚÑIGA DE LA SANTÍSIMA TRINIDAD ÑAÑEZ ÇOLAK';
  // Characters the Latin cut of the value font lacks: that value is drawn from the whole font.
  if (seed === 5) app.additionalPersonalDetails = { placeOfBirth: 'Ωmega № 5 Ǆ' };
  return {
    application: app,
    documentNumber: app.documentNumber,
    mrz: mrzOf(app),
    face: seed === 6 ? bigFace : seed === 7 ? signature : face,
    ...(seed % 4 === 1 ? {} : { signature: seed === 6 ? face : signature }),
    issuingStateName: seed % 2 ? 'República del Perú' : 'Utopía',
  };
}

/** Page pixels (x0 <= x < x1, y0 <= y < y1) around an image overlay's picture, 2 pixels wider. */
interface Region {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** An overlay's grey levels; an RGBA one must be grey already (black ink on white). */
function greyOf(o: PlacedRaster): Uint8Array {
  if (o.grey) return o.grey;
  const g = new Uint8Array(o.width * o.height);
  for (let p = 0; p < g.length; p++) {
    const [r, gr, b, a] = o.rgba.subarray(p * 4, p * 4 + 4);
    if (r !== gr || r !== b || a !== 255) throw new Error(`pixel ${p} is not opaque grey`);
    g[p] = r!;
  }
  return g;
}

const inside = (rs: Region[], x: number, y: number): boolean =>
  rs.some((r) => x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1);

describe('the data page in layers', () => {
  it.each([0, 1, 2, 3, 4, 5, 6, 7])('prints as the whole page (page %i)', (seed) => {
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
    // Kept drawn between pages: only the document's own fields (type, issuing State, date of
    // issue, authority), never a value of the holder's.
    const { additionalDocumentDetails: doc } = application;
    expect(
      layers.overlays
        .filter((o) => o.shared)
        .map((o) => /<text[^>]*>([^<]*)<\/text>/.exec(o.svg)?.[1]),
    ).toEqual([
      application.documentCode,
      page(seed).mrz.line1.slice(2, 5),
      vizDate(doc!.dateOfIssue!),
      doc!.issuingAuthority!.toUpperCase(),
    ]);

    const { width } = whole;
    const sx = width / TD3_PAGE.width;
    const sy = whole.height / TD3_PAGE.height;
    const images = layers.overlays.flatMap(({ image }) => (image ? [image.placed] : []));
    expect(images).toHaveLength(seed % 4 === 1 ? 1 : 2);
    const regions = images.map((p) => ({
      x0: Math.floor(p.x * sx) - 2,
      y0: Math.floor(p.y * sy) - 2,
      x1: Math.ceil((p.x + p.width) * sx) + 2,
      y1: Math.ceil((p.y + p.height) * sy) + 2,
    }));

    // Outside the pictures: an edge drawn alone in an overlay may fall on the other side of one
    // of the anti-aliasing's four sub-samples (a quarter of a pixel's coverage, 64 grey levels):
    // a few pixels a page.
    const mono = (r: Parameters<typeof encodePage>[0]): Uint8Array =>
      new Uint8Array(inflateSync(encodePage(r, 'mono1').data));
    const [ma, mb] = [mono(layered), mono(whole)];
    const stride = Math.ceil(width / 8);
    let bits = 0;
    for (let y = 0; y < whole.height; y++)
      for (let x = 0; x < width; x++)
        if (
          !inside(regions, x, y) &&
          (ma[y * stride + (x >> 3)]! ^ mb[y * stride + (x >> 3)]!) & (0x80 >> (x & 7))
        )
          bits++;
    expect(bits).toBeLessThanOrEqual(32);

    const a = inflateSync(encodePage(layered, 'grey8').data);
    const b = inflateSync(encodePage(whole, 'grey8').data);
    let differing = 0;
    let most = 0;
    for (let i = 0; i < a.length; i++)
      if (a[i] !== b[i] && !inside(regions, i % width, Math.floor(i / width))) {
        differing++;
        most = Math.max(most, Math.abs(a[i]! - b[i]!));
      }
    expect(differing).toBeLessThan(a.length / 10_000);
    expect(most).toBeLessThanOrEqual(64);

    // The pictures. Enlarged, bilinear against resvg's bicubic differs by 0.2-0.3 levels on
    // average and at most ~23 (measured); half a pixel's shift gives 1-2 on average and over 100
    // at most. Reduced, resvg samples without averaging and aliases where this averages: pixel
    // by pixel they differ by ~2.3 on average, so there the test is 6 x 6 pixel blocks, whose
    // means agree to 0.6 on average and 4 at most (measured).
    const reduced = layers.overlays.flatMap(({ image }) =>
      image ? [image.width / (image.placed.width * sx) > 1] : [],
    );
    for (const [k, r] of regions.entries()) {
      let sum = 0;
      let worst = 0;
      for (let y = r.y0; y < r.y1; y++)
        for (let x = r.x0; x < r.x1; x++) {
          const d = Math.abs(a[y * width + x]! - b[y * width + x]!);
          sum += d;
          worst = Math.max(worst, d);
        }
      if (!reduced[k]) {
        expect(sum / ((r.x1 - r.x0) * (r.y1 - r.y0))).toBeLessThan(0.6);
        expect(worst).toBeLessThanOrEqual(48);
      }
      const B = 6;
      let blocks = 0;
      let blockSum = 0;
      let blockWorst = 0;
      for (let y = r.y0; y + B <= r.y1; y += B)
        for (let x = r.x0; x + B <= r.x1; x += B) {
          let d = 0;
          for (let yy = y; yy < y + B; yy++)
            for (let xx = x; xx < x + B; xx++) d += a[yy * width + xx]! - b[yy * width + xx]!;
          blocks++;
          blockSum += Math.abs(d) / (B * B);
          blockWorst = Math.max(blockWorst, Math.abs(d) / (B * B));
        }
      expect(blockSum / blocks).toBeLessThan(1);
      expect(blockWorst).toBeLessThanOrEqual(8);
    }
  });

  it('puts each MRZ line together from glyphs drawn per cell, pixel for pixel as resvg draws it', () => {
    const pageSize = { width: 1476, height: 1039, dpi: 300 };
    for (let seed = 0; seed < 40; seed++) {
      const layers = dataPageLayers(page(seed));
      const lines = layers.overlays.filter((o) => o.cells);
      expect(lines.map((o) => o.cells!.text)).toEqual([page(seed).mrz.line1, page(seed).mrz.line2]);
      for (const o of lines) {
        const fast = drawOverlay(o, pageSize);
        expect(fast.drawnBy).toBe('cells');
        const slow = drawOverlay(o, pageSize, { resvgOnly: true });
        expect(slow.drawnBy).toBe('resvg');
        expect([fast.x, fast.y, fast.width, fast.height]).toEqual([
          slow.x,
          slow.y,
          slow.width,
          slow.height,
        ]);
        expect(Buffer.from(greyOf(fast)).equals(greyOf(slow))).toBe(true);
      }
      for (const o of layers.overlays.filter((o) => o.image))
        expect(drawOverlay(o, pageSize).drawnBy).toBe('resampled');
    }
    // Cells narrower than their glyphs (the MRZ at a third of its pitch): no glyph set can be
    // exact, and the line is drawn whole.
    const line = dataPageLayers(page(1)).overlays.find((o) => o.cells)!;
    const lefts = line.cells!.lefts.map((l) => 6 + (l - 6) / 3);
    const svgOf = (t: string): string =>
      line.cells!.svgOf(t).replace(/x="[^"]*"/, `x="${lefts.join(' ')}"`);
    const squeezed = {
      ...line,
      svg: svgOf(line.cells!.text),
      cells: { ...line.cells!, lefts, svgOf },
    };
    const drawn = drawOverlay(squeezed, pageSize);
    expect(drawn.drawnBy).toBe('resvg');
    expect(
      Buffer.from(greyOf(drawn)).equals(
        greyOf(drawOverlay(squeezed, pageSize, { resvgOnly: true })),
      ),
    ).toBe(true);
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
