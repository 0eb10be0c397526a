import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { describe, expect, it } from 'vitest';
import { type Application, mrzOf, parseApplication } from './application.ts';
import {
  DataPageError,
  TD3_PAGE,
  dataPageFontFiles,
  dataPageSvg,
  mrzCapHeight,
  vizDate,
} from './data-page.ts';
import { PRINTER_DPI, pagePixels, rasterizeDataPage } from './data-page-raster.ts';

const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');
const app = parseApplication(JSON.parse(readFileSync(join(fixtures, 'application.json'), 'utf8')));
const face = readFileSync(join(fixtures, 'face.jpg'));
const signature = readFileSync(join(fixtures, 'signature.jpg'));
const input = (a: Application = app): Parameters<typeof dataPageSvg>[0] => ({
  application: a,
  documentNumber: a.documentNumber,
  mrz: mrzOf(a),
  face,
  signature,
  issuingStateName: 'República del Perú',
});
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** Renders strictly: resvg rejects SVG that is not well-formed XML. */
const parses = (svg: string): boolean =>
  new Resvg(svg, { font: { loadSystemFonts: false, fontFiles: dataPageFontFiles() } }).width > 0;

describe('data page SVG', () => {
  it('is deterministic: the same input gives the same bytes, and the raster the same pixels', () => {
    const a = dataPageSvg(input());
    const b = dataPageSvg(input());
    expect(a).toBe(b);
    const r1 = rasterizeDataPage(a);
    const r2 = rasterizeDataPage(b);
    expect(sha256(r1.rgba)).toBe(sha256(r2.rgba));
    expect({ width: r1.width, height: r1.height }).toEqual(pagePixels(PRINTER_DPI));
    expect(r1.width).toBe(1476); // 125 mm at 300 dpi
  });

  it('escapes every text it places: <, &, quotes in free-text fields stay text', () => {
    const nasty: Application = {
      ...app,
      additionalPersonalDetails: { placeOfBirth: 'Lima & "Callao" <b>' },
      additionalDocumentDetails: {
        dateOfIssue: '2026-03-14',
        issuingAuthority: "Migraciones </text><script>alert('x')</script>",
      },
    };
    const svg = dataPageSvg({ ...input(nasty), nationalityName: 'PER"U\u0007' });
    expect(svg).not.toContain('<script');
    expect(svg).not.toContain('<b>');
    expect(svg).toContain('LIMA &amp; &quot;CALLAO&quot; &lt;B&gt;');
    expect(svg).toContain('&lt;/TEXT&gt;&lt;SCRIPT&gt;ALERT(&#39;X&#39;)&lt;/SCRIPT&gt;');
    expect(svg).not.toContain('\u0007');
    expect(parses(svg)).toBe(true);
  });

  it('captions every field in Spanish and English', () => {
    const svg = dataPageSvg(input());
    for (const [es, en] of [
      ['Tipo', 'Type'],
      ['Código', 'Code'],
      ['Pasaporte N.º', 'Passport No.'],
      ['Apellidos', 'Surname'],
      ['Nombres', 'Given names'],
      ['Nacionalidad', 'Nationality'],
      ['Fecha de nacimiento', 'Date of birth'],
      ['Sexo', 'Sex'],
      ['Lugar de nacimiento', 'Place of birth'],
      ['N.º personal', 'Personal No.'],
      ['Fecha de expedición', 'Date of issue'],
      ['Autoridad', 'Authority'],
      ['Fecha de caducidad', 'Date of expiry'],
      ['Firma del titular', 'Holder&#39;s signature'],
      ['PASAPORTE', 'PASSPORT'],
    ])
      expect(svg).toContain(`${es} / <tspan font-style="italic">${en}</tspan>`);
    for (const zone of ['I', 'II', 'III', 'IV', 'V', 'VII'])
      expect(svg).toContain(`id="zone-${zone}"`);
    expect(svg).toContain('14 MAR/MAR 1985');
    expect(svg).toContain('NÚÑEZ DEL RÍO');
  });

  it('leaves out the captions of optional fields that are not used', () => {
    const { personalNumber: _p, additionalPersonalDetails: _d, ...rest } = app;
    const svg = dataPageSvg(input(rest));
    expect(svg).not.toContain('Place of birth');
    expect(svg).not.toContain('Personal No.');
  });

  it('prints the MRZ in OCR-B at the cells and reference lines of Part 4 Figure 3', () => {
    const svg = dataPageSvg(input());
    const m = mrzOf(app);
    const lines = [...svg.matchAll(/<text x="([\d. ]+)" y="([\d.]+)">([A-Z0-9&;lgt]+)<\/text>/g)];
    expect(lines).toHaveLength(2);
    for (const [i, l] of lines.entries()) {
      const xs = l[1]!.split(' ').map(Number);
      expect(xs).toHaveLength(44);
      expect(xs[0]).toBe(6);
      expect(xs[43]).toBeCloseTo(6 + 43 * 2.54, 3);
      const centre = Number(l[2]) - mrzCapHeight() / 2;
      expect(TD3_PAGE.height - centre).toBeCloseTo([15.75, 9.4][i]!, 3);
      expect(l[3]!.replace(/&lt;/g, '<')).toBe([m.line1, m.line2][i]);
    }
    expect(svg).toContain(`font-family="'OCR B'"`);
    expect(mrzCapHeight()).toBeCloseTo(2.46, 2);
  });

  it('puts the printed ink of each MRZ line on its reference centre line (raster)', () => {
    const r = rasterizeDataPage(dataPageSvg(input()));
    const mm = r.dpi / 25.4;
    for (const fromBottom of [15.75, 9.4]) {
      const centre = Math.round((TD3_PAGE.height - fromBottom) * mm);
      let top = -1;
      let bottom = -1;
      for (let y = centre - 40; y < centre + 40; y++) {
        let ink = false;
        for (let x = 0; x < r.width && !ink; x++) ink = r.rgba[(y * r.width + x) * 4]! < 128;
        if (ink && top < 0) top = y;
        if (ink) bottom = y;
      }
      // Digits stand a little above the capitals: allow 0.2 mm around the centre line.
      expect(Math.abs((top + bottom) / 2 - centre) / mm).toBeLessThan(0.2);
    }
  });

  it('fits a very long name into its field instead of running off the page', () => {
    const long = {
      ...app,
      surname:
        'Wolfeschlegelsteinhausenbergerdorff Núñez del Río Y Valle de la Santísima Trinidad Ñuñoa',
    };
    const svg = dataPageSvg(input(long));
    const el =
      /<text x="38" y="[\d.]+" font-size="([\d.]+)"( textLength="([\d.]+)")?[^>]*>WOLFE/.exec(svg);
    expect(el).not.toBeNull();
    expect(Number(el![1])).toBeLessThan(2.5);
    if (el![3]) expect(Number(el![3])).toBeLessThanOrEqual(84);
  });

  it('refuses what it cannot print, naming every problem, and produces nothing', () => {
    const bad = {
      ...input({ ...app, additionalDocumentDetails: undefined }),
      documentNumber: 'XX0000000',
      face: readFileSync(join(fixtures, 'face.jp2')),
    };
    let err: unknown;
    try {
      dataPageSvg(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataPageError);
    const problems = (err as DataPageError).problems.join('\n');
    expect(problems).toMatch(/documentNumber: "XX0000000" differs from the MRZ's "PE1234567"/);
    expect(problems).toMatch(/dateOfIssue/);
    expect(problems).toMatch(/authority/);
    expect(problems).toMatch(/faceImage: jpeg2000 cannot be printed/);
    const badMrz = {
      ...input(),
      mrz: { line1: mrzOf(app).line1, line2: mrzOf(app).line2.replace('PE12345675', 'PE12345670') },
    };
    expect(() => dataPageSvg(badMrz)).toThrow(/check digit documentNumber/);
  });

  it('writes dates as DD MMM/MMM YYYY, Spanish then English (Doc 9303 Part 3 3.8)', () => {
    expect(vizDate('2036-01-05')).toBe('05 ENE/JAN 2036');
    expect(vizDate('1990-05-31')).toBe('31 MAYO/MAY 1990');
    expect(() => vizDate('1990-13-01')).toThrow(DataPageError);
  });
});
