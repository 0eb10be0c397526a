/**
 * The TD3 passport data page (ICAO Doc 9303 Part 4) as SVG: the layout of zones I to VII on
 * the 125 x 88 mm page, captions in Spanish with English in italic after the oblique (Part 3
 * section 3.3), dates as `DD MMM/MMM YYYY` (Part 3 section 3.8), the portrait in Zone V, the
 * signature in Zone IV and the two MRZ lines in OCR-B at the positions Part 4 Figure 3 fixes.
 *
 * Pure: the same input gives the same bytes. Text is fitted with the fonts' own advance widths
 * (mrtd/data-page-fonts.ts) so the layout does not depend on the machine that renders it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Application } from './application.ts';
import { type FontMetrics, fontMetrics, textWidth } from './data-page-fonts.ts';
import { ImageError, imageInfo } from './image.ts';
import { TD3_LINE_LENGTH, parseTd3 } from './mrz.ts';

/** Page and MRZ geometry in millimetres (Part 4 section 2.2, Figures 3 and 7). */
export const TD3_PAGE = {
  width: 125,
  height: 88,
  /** Margin left clear of data on the left, right and top edges (section 2.4). */
  margin: 2,
  /** Height of Zone VII, the MRZ, from the bottom edge (Figure 3). */
  mrzHeight: 23.2,
  /** Left edge of the first MRZ character cell (Figure 3: 6.0 +- 1.0 mm). */
  mrzLeft: 6,
  /** Fixed character pitch, 10 characters per 25.4 mm (Part 3 section 4.4). */
  mrzPitch: 2.54,
  /** Reference centre lines of the upper and lower code lines, from the bottom edge. */
  mrzCentreFromBottom: [15.75, 9.4] as const,
} as const;

/** Where the three font families are: file names in assets/fonts and their family names. */
export const DATA_PAGE_FONTS = {
  ocrB: { file: 'OCRB.otf', family: 'OCR B' },
  regular: { file: 'DejaVuSansCondensed.ttf', family: 'DejaVu Sans' },
  bold: { file: 'DejaVuSansCondensed-Bold.ttf', family: 'DejaVu Sans' },
  italic: { file: 'DejaVuSansCondensed-Oblique.ttf', family: 'DejaVu Sans' },
} as const;

export const DATA_PAGE_FONT_DIR = fileURLToPath(new URL('../assets/fonts/', import.meta.url));

/**
 * DejaVu Sans Condensed cut to the Latin script (scripts/subset-fonts.mjs), for drawing a field
 * value alone: resvg reads its font files again for each glyph, and this one is a tenth of the
 * whole. Same family, outlines and metrics; a value it lacks a glyph for uses the whole file.
 */
export const DATA_PAGE_LATIN_VALUES = {
  file: 'DejaVuSansCondensed-Latin.ttf',
  family: 'DejaVu Sans',
};

/** Absolute paths of every font file the page uses (for the rasterizer). */
export function dataPageFontFiles(): string[] {
  return Object.values(DATA_PAGE_FONTS).map((f) => DATA_PAGE_FONT_DIR + f.file);
}

interface PageFonts {
  ocrB: FontMetrics;
  regular: FontMetrics;
  bold: FontMetrics;
  italic: FontMetrics;
}
let latinValues: FontMetrics | undefined;

/** The font file a field value is drawn from when drawn alone. */
function valueFontFile(value: string): string {
  latinValues ??= fontMetrics(readFileSync(DATA_PAGE_FONT_DIR + DATA_PAGE_LATIN_VALUES.file));
  const covered = [...value].every((ch) => latinValues!.has(ch.codePointAt(0)!));
  return DATA_PAGE_FONT_DIR + (covered ? DATA_PAGE_LATIN_VALUES : DATA_PAGE_FONTS.regular).file;
}

let fontsCache: PageFonts | undefined;
function pageFonts(): PageFonts {
  fontsCache ??= {
    ocrB: fontMetrics(readFileSync(DATA_PAGE_FONT_DIR + DATA_PAGE_FONTS.ocrB.file)),
    regular: fontMetrics(readFileSync(DATA_PAGE_FONT_DIR + DATA_PAGE_FONTS.regular.file)),
    bold: fontMetrics(readFileSync(DATA_PAGE_FONT_DIR + DATA_PAGE_FONTS.bold.file)),
    italic: fontMetrics(readFileSync(DATA_PAGE_FONT_DIR + DATA_PAGE_FONTS.italic.file)),
  };
  return fontsCache;
}

/**
 * OCR-B size 1 is set so that one character advance is exactly the 2.54 mm pitch; with this
 * font that gives a capital height of 2.46 mm, the nominal size 1 height.
 */
export function mrzFontSize(): number {
  const f = pageFonts().ocrB;
  return (TD3_PAGE.mrzPitch * f.unitsPerEm) / f.advance('<'.codePointAt(0)!);
}

/** Capital height of the MRZ characters in millimetres. */
export function mrzCapHeight(): number {
  const f = pageFonts().ocrB;
  return (mrzFontSize() * f.capHeight) / f.unitsPerEm;
}

/** The baseline (mm from the top) of MRZ line 0 or 1: its reference centre line plus half a capital. */
export function mrzBaseline(line: 0 | 1): number {
  return TD3_PAGE.height - TD3_PAGE.mrzCentreFromBottom[line] + mrzCapHeight() / 2;
}

/** Left edge (mm) of MRZ character cell `i` (0-based). */
export function mrzCellLeft(i: number): number {
  return TD3_PAGE.mrzLeft + i * TD3_PAGE.mrzPitch;
}

export class DataPageError extends Error {
  constructor(readonly problems: string[]) {
    super(`data page: ${problems.join('; ')}`);
    this.name = 'DataPageError';
  }
}

/** A rectangle on the page in millimetres from the top left corner. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** SVG elements drawn within `box` (nothing of them reaches outside it). */
export interface PageElement {
  svg: string;
  box: Box;
}

/** An overlay of the page: its elements and the font files (absolute paths) they are set in. */
export interface PageOverlay extends PageElement {
  fontFiles: string[];
  /**
   * For an overlay that is one JPEG image (portrait, signature): the image and the rectangle (mm)
   * it fills once its aspect ratio is kept, so a printer's raster can resample it directly.
   */
  image?: PageImage;
  /** For an overlay that is one line of fixed-pitch text (an MRZ line): its cells. */
  cells?: PageCells;
  /**
   * The overlay holds nothing of the holder (the document's type, State, date of issue,
   * authority): the same on many pages, so a printer's raster may keep it drawn.
   */
  shared?: boolean;
}

/**
 * A line of `text`, one character a cell: cell `i` starts at `lefts[i]` (mm, as in the SVG) and
 * is `pitch` wide. `svgOf(t)` is the overlay's SVG with another text of the same length in the
 * same cells (the overlay's own `svg` is `svgOf(text)`), so a printer's raster can keep each
 * character's glyph for each cell.
 */
export interface PageCells {
  text: string;
  lefts: number[];
  pitch: number;
  alphabet: string;
  svgOf(text: string): string;
}

/** A JPEG image of the page, `width` x `height` pixels, filling `placed` (mm). */
export interface PageImage {
  jpeg: Uint8Array;
  width: number;
  height: number;
  placed: Box;
}

/**
 * The data page as one SVG, and the same page in two layers for printing: `fixedSvg`, the page
 * without the holder's data (captions, header: the same on every page of a station, so its
 * raster can be made once), and `overlays`, the holder's data (field values, portrait,
 * signature, MRZ), each a self-contained SVG fragment with the box it stays within. Drawn over
 * the fixed layer they give `svg`: nothing of one overlay touches the ink of another or of the
 * fixed layer.
 */
export interface DataPageLayers {
  svg: string;
  fixedSvg: string;
  overlays: PageOverlay[];
}

export interface DataPageInput {
  /** A parsed application (mrtd/application.ts `parseApplication`). */
  application: Application;
  /** The document number: the booklet's printed serial, as it appears in the MRZ. */
  documentNumber: string;
  /** The two MRZ lines (mrtd/mrz.ts `encodeTd3`). */
  mrz: { line1: string; line2: string };
  /** Portrait for Zone V: JPEG (resvg and browsers cannot draw JPEG 2000). */
  face: Uint8Array;
  /** Signature for Zone IV: JPEG; when absent Zone IV is left blank for a hand signature. */
  signature?: Uint8Array | undefined;
  /** Field 01, the issuing State in full; omitted when the booklet has it pre-printed. */
  issuingStateName?: string | undefined;
  /** Field 08 in full (e.g. `PERUANA`); the three-letter code otherwise (Part 3 section 3.6). */
  nationalityName?: string | undefined;
  /** Field 14 (ISO date); defaults to the application's `additionalDocumentDetails.dateOfIssue`. */
  dateOfIssue?: string | undefined;
  /** Field 15; defaults to the application's `additionalDocumentDetails.issuingAuthority`. */
  authority?: string | undefined;
}

/** Escapes text for an SVG text node or a double-quoted attribute (forbidden controls dropped). */
export function escapeXml(s: string): string {
  return xmlSafe(s).replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}

/** Drops characters that XML 1.0 cannot carry at all (controls other than tab/newline). */
function xmlSafe(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const forbidden =
      (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xfffe || c === 0xffff;
    if (!forbidden) out += ch;
  }
  return out.replace(/\s+/g, ' ');
}

/** Numbers with at most three decimals and no trailing zeros: stable bytes across runs. */
const n = (x: number): string => String(Math.round(x * 1000) / 1000);

const MONTHS_ES = [
  'ENE',
  'FEB',
  'MAR',
  'ABR',
  'MAYO',
  'JUN',
  'JUL',
  'AGO',
  'SEPT',
  'OCT',
  'NOV',
  'DIC',
];
const MONTHS_EN = [
  'JAN',
  'FEB',
  'MAR',
  'APR',
  'MAY',
  'JUN',
  'JUL',
  'AUG',
  'SEP',
  'OCT',
  'NOV',
  'DEC',
];

/** `2036-03-13` → `13 MAR/MAR 2036` (Part 3 section 3.8, Spanish then English). */
export function vizDate(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  const month = m ? Number(m[2]) - 1 : -1;
  if (!m || month < 0 || month > 11)
    throw new DataPageError([`date ${JSON.stringify(iso)} is not YYYY-MM-DD`]);
  return `${m[3]} ${MONTHS_ES[month]}/${MONTHS_EN[month]} ${m[1]}`;
}

const SIZE = {
  caption: 1.4,
  value: 2.5,
  minValue: 1.6,
  state: 3.4,
  document: 2.8,
};
const ROW = 6.35;
const HEADER = 8.35;
const COL = [37, 80, 123] as const;

interface Field {
  x: number;
  y: number;
  width: number;
  es: string;
  en: string;
  value: string;
  /** The document's, not the holder's: the same on many pages (type, State, issue, authority). */
  shared?: boolean;
}

/** A text run fitted into `width`: smaller type first, then horizontal compression. */
function fitted(
  text: string,
  font: FontMetrics,
  size: number,
  minSize: number,
  width: number,
): { size: number; textLength?: number } {
  const w = textWidth(font, text, size);
  if (w <= width) return { size };
  const s = Math.max(minSize, (size * width) / w);
  if (textWidth(font, text, s) <= width) return { size: s };
  return { size: s, textLength: width };
}

function textEl(
  x: number,
  y: number,
  text: string,
  attrs: string,
  fit?: { size: number; textLength?: number },
): string {
  const sz = fit ? ` font-size="${n(fit.size)}"` : '';
  const tl =
    fit?.textLength !== undefined
      ? ` textLength="${n(fit.textLength)}" lengthAdjust="spacingAndGlyphs"`
      : '';
  return `<text x="${n(x)}" y="${n(y)}"${attrs}${sz}${tl}>${escapeXml(text)}</text>`;
}

/** A field's caption (the same on every page) and its value (the holder's). */
function fieldEls(f: Field, fonts: PageFonts): { caption: string; value?: PageElement } {
  const pad = 1;
  const w = f.width - 2 * pad;
  const capEs = textWidth(fonts.regular, `${f.es} / `, SIZE.caption);
  const capAll = capEs + textWidth(fonts.italic, f.en, SIZE.caption);
  const capFit = capAll > w ? { size: SIZE.caption, textLength: w } : undefined;
  const caption =
    `<text x="${n(f.x + pad)}" y="${n(f.y + 1.9)}" font-size="${SIZE.caption}"` +
    `${capFit ? ` textLength="${n(w)}" lengthAdjust="spacingAndGlyphs"` : ''}>` +
    `${escapeXml(f.es)} / <tspan font-style="italic">${escapeXml(f.en)}</tspan></text>`;
  if (!f.value) return { caption };
  const baseline = f.y + 5.0;
  const fit = fitted(f.value, fonts.regular, SIZE.value, SIZE.minValue, w);
  return {
    caption,
    value: {
      svg: textEl(f.x + pad, baseline, f.value, '', fit),
      // The value never runs past its cell (fitted to it), nor much past the sum of its glyphs'
      // advances (kerning only narrows these capitals; half an em more for a glyph's overhang):
      // its box is no wider, since drawing an overlay costs by its area. Capitals with accents
      // reach about 1.2 em above the baseline and descenders 0.25 em below it.
      box: textBox(
        f.x,
        Math.min(f.width, pad + textWidth(fonts.regular, f.value, fit.size) + fit.size / 2),
        baseline,
        fit.size,
      ),
    },
  };
}

/** A box (mm) sure to hold a line of text set at `size` on `baseline` within [x, x + width]. */
function textBox(x: number, width: number, baseline: number, size: number): Box {
  return { x: x - 0.5, y: baseline - 1.4 * size, width: width + 1, height: 1.9 * size };
}

interface PrintableJpeg {
  href: string;
  data: Uint8Array;
  width: number;
  height: number;
}

function printableJpeg(
  field: string,
  data: Uint8Array,
  problems: string[],
): PrintableJpeg | undefined {
  try {
    const info = imageInfo(data);
    if (info.format !== 'jpeg') {
      problems.push(
        `${field}: ${info.format} cannot be printed on the data page (a JPEG is needed)`,
      );
      return undefined;
    }
    if (!(info.width > 0 && info.height > 0)) {
      problems.push(`${field}: the JPEG is ${info.width} x ${info.height} pixels`);
      return undefined;
    }
    return {
      href: `data:image/jpeg;base64,${Buffer.from(data).toString('base64')}`,
      data,
      width: info.width,
      height: info.height,
    };
  } catch (e) {
    if (!(e instanceof ImageError)) throw e;
    problems.push(`${field}: ${e.message}`);
    return undefined;
  }
}

/**
 * An image element filling `box` with its aspect ratio kept (SVG `meet`), centred vertically and
 * horizontally at the left (`xMinYMid`) or the middle (`xMidYMid`), and where it lands.
 */
function imageEl(
  img: PrintableJpeg,
  box: Box,
  align: 'xMinYMid' | 'xMidYMid',
): PageElement & { image: PageImage } {
  // Where the SVG says it is: the box as written there, to the thousandth of a millimetre.
  box = { x: +n(box.x), y: +n(box.y), width: +n(box.width), height: +n(box.height) };
  const scale = Math.min(box.width / img.width, box.height / img.height);
  const width = img.width * scale;
  const height = img.height * scale;
  const placed = {
    x: align === 'xMinYMid' ? box.x : box.x + (box.width - width) / 2,
    y: box.y + (box.height - height) / 2,
    width,
    height,
  };
  return {
    svg: `<image x="${n(box.x)}" y="${n(box.y)}" width="${n(box.width)}" height="${n(box.height)}" preserveAspectRatio="${align} meet" href="${img.href}"/>`,
    box,
    image: { jpeg: img.data, width: img.width, height: img.height, placed },
  };
}

const MRZ_CHARS = /^[A-Z0-9<]*$/;
/** The characters an MRZ is written in (Part 3 section 4.3). */
const MRZ_ALPHABET = '<0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Checks the input is printable and consistent; lists every problem. */
function check(input: DataPageInput): {
  dateOfIssue: string;
  authority: string;
  problems: string[];
} {
  const problems: string[] = [];
  const { line1, line2 } = input.mrz;
  for (const [i, l] of [line1, line2].entries())
    if (typeof l !== 'string' || l.length !== TD3_LINE_LENGTH || !MRZ_CHARS.test(l))
      problems.push(`mrz line ${i + 1}: must be ${TD3_LINE_LENGTH} characters A-Z, 0-9 or <`);
  if (problems.length === 0) {
    const p = parseTd3(line1, line2);
    if (!p.valid)
      problems.push(
        `mrz: not a valid TD3 MRZ (${[...p.problems, ...p.checks.filter((c) => !c.ok).map((c) => `check digit ${c.name}`)].join(', ')})`,
      );
    if (p.documentNumber !== input.documentNumber)
      problems.push(
        `documentNumber: ${JSON.stringify(input.documentNumber)} differs from the MRZ's ${JSON.stringify(p.documentNumber)}`,
      );
  }
  const d = input.application.additionalDocumentDetails;
  const dateOfIssue = input.dateOfIssue ?? d?.dateOfIssue ?? '';
  const authority = input.authority ?? d?.issuingAuthority ?? '';
  if (!/^\d{4}-(0[1-9]|1[0-2])-\d{2}$/.test(dateOfIssue))
    problems.push('dateOfIssue: the data page needs the date of issue (field 14) as YYYY-MM-DD');
  if (authority.trim() === '')
    problems.push('authority: the data page needs the issuing authority (field 15)');
  return { dateOfIssue, authority, problems };
}

/**
 * The data page as SVG (millimetre user units, 125 x 88 mm). Throws DataPageError listing every
 * problem (bad MRZ, document number differing from it, missing date of issue or authority,
 * images that cannot be printed); nothing is produced for a bad input.
 */
export function dataPageSvg(input: DataPageInput): string {
  return dataPageLayers(input).svg;
}

/** The data page and its two layers for printing (DataPageLayers); throws as `dataPageSvg`. */
export function dataPageLayers(input: DataPageInput): DataPageLayers {
  const fonts = pageFonts();
  const app = input.application;
  const { dateOfIssue, authority, problems } = check(input);
  const face = printableJpeg('faceImage', input.face, problems);
  const signature = input.signature
    ? printableJpeg('signatureImage', input.signature, problems)
    : null;
  if (problems.length > 0 || face === undefined || signature === undefined)
    throw new DataPageError(problems);

  const upper = (s: string): string => xmlSafe(s).trim().toUpperCase();
  const row = (i: number): number => HEADER + i * ROW;
  const full = COL[2] - COL[0];
  const half = COL[1] - COL[0];
  const sexWidth = 15.2;
  const fields: Field[] = [
    // Zone I, after the header: fields 03, 04, 05.
    {
      x: COL[0],
      y: row(0),
      width: 16,
      es: 'Tipo',
      en: 'Type',
      value: app.documentCode.toUpperCase(),
      shared: true,
    },
    {
      x: COL[0] + 16,
      y: row(0),
      width: half - 16,
      es: 'Código',
      en: 'Code',
      value: input.mrz.line1.slice(2, 5).replace(/</g, ''),
      shared: true,
    },
    {
      x: COL[1],
      y: row(0),
      width: half,
      es: 'Pasaporte N.º',
      en: 'Passport No.',
      value: input.documentNumber,
    },
    // Zone II: fields 06 to 12.
    {
      x: COL[0],
      y: row(1),
      width: full,
      es: 'Apellidos',
      en: 'Surname',
      value: upper(app.surname),
    },
    {
      x: COL[0],
      y: row(2),
      width: full,
      es: 'Nombres',
      en: 'Given names',
      value: upper(app.givenNames),
    },
    {
      x: COL[0],
      y: row(3),
      width: half,
      es: 'Nacionalidad',
      en: 'Nationality',
      value: upper(input.nationalityName ?? app.nationality),
    },
    {
      x: COL[1],
      y: row(3),
      width: half,
      es: 'Fecha de nacimiento',
      en: 'Date of birth',
      value: vizDate(app.dateOfBirth),
    },
    { x: COL[0], y: row(4), width: sexWidth, es: 'Sexo', en: 'Sex', value: app.sex },
  ];
  const place = app.additionalPersonalDetails?.placeOfBirth;
  if (place)
    fields.push({
      x: COL[0] + sexWidth,
      y: row(4),
      width: half - sexWidth,
      es: 'Lugar de nacimiento',
      en: 'Place of birth',
      value: upper(place),
    });
  if (app.personalNumber)
    fields.push({
      x: COL[1],
      y: row(4),
      width: half,
      es: 'N.º personal',
      en: 'Personal No.',
      value: upper(app.personalNumber),
    });
  // Zone III: fields 14, 15, 16.
  fields.push(
    {
      x: COL[0],
      y: row(5),
      width: half,
      es: 'Fecha de expedición',
      en: 'Date of issue',
      value: vizDate(dateOfIssue),
      shared: true,
    },
    {
      x: COL[1],
      y: row(5),
      width: half,
      es: 'Autoridad',
      en: 'Authority',
      value: upper(authority),
      shared: true,
    },
    {
      x: COL[0],
      y: row(6),
      width: half,
      es: 'Fecha de caducidad',
      en: 'Date of expiry',
      value: vizDate(app.dateOfExpiry),
    },
  );

  // `page` is the whole page; `fixed` the same without the holder's data, which goes to
  // `overlays` as well, each in a group carrying what it would inherit on the page.
  const page: string[] = [];
  const fixed: string[] = [];
  const overlays: PageOverlay[] = [];
  const both = (...els: string[]): void => {
    page.push(...els);
    fixed.push(...els);
  };
  const textGroup = `font-family="'${DATA_PAGE_FONTS.regular.family}'" font-stretch="condensed" fill="#000"`;
  const holders = (
    el: PageElement & { image?: PageImage; cells?: Omit<PageCells, 'svgOf'> },
    group: string,
    fontFiles: string[],
    svgOf?: (text: string) => string,
  ): void => {
    page.push(el.svg);
    const grouped = (svg: string): string => (group ? `<g ${group}>${svg}</g>` : svg);
    overlays.push({
      svg: grouped(el.svg),
      box: el.box,
      fontFiles,
      ...(el.image ? { image: el.image } : {}),
      ...(el.cells && svgOf ? { cells: { ...el.cells, svgOf: (t) => grouped(svgOf(t)) } } : {}),
    });
  };
  const W = TD3_PAGE.width;
  const H = TD3_PAGE.height;
  both(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}mm" height="${H}mm" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<g ${textGroup}>`,
  );
  const fieldsOf = (fs: Field[]): void => {
    for (const f of fs) {
      const { caption, value } = fieldEls(f, fonts);
      page.push(caption + (value?.svg ?? ''));
      fixed.push(caption);
      if (value)
        overlays.push({
          svg: `<g ${textGroup}>${value.svg}</g>`,
          box: value.box,
          fontFiles: [valueFontFile(f.value)],
          ...(f.shared ? { shared: true } : {}),
        });
    }
  };

  // Zone I: header (fields 01, 02) to the right of the portrait, then fields 03-05. The issuing
  // State is the station's, not the holder's.
  both('<g id="zone-I">');
  const headerMid = (COL[0] + COL[2]) / 2;
  if (input.issuingStateName) {
    const s = upper(input.issuingStateName);
    const fit = fitted(s, fonts.bold, SIZE.state, SIZE.minValue, full);
    both(textEl(headerMid, 4.3, s, ' font-weight="bold" text-anchor="middle"', fit));
  }
  both(
    `<text x="${n(headerMid)}" y="7.6" text-anchor="middle" font-size="${SIZE.document}">PASAPORTE / <tspan font-style="italic">PASSPORT</tspan></text>`,
  );
  fieldsOf(fields.slice(0, 3));
  both('</g>', '<g id="zone-II">');
  fieldsOf(fields.slice(3, fields.length - 3));
  both('</g>', '<g id="zone-III">');
  fieldsOf(fields.slice(fields.length - 3));
  both('</g>');

  // Zone IV: the signature band between the last row and the MRZ (Figure 7: 12.0 mm).
  const sigTop = row(7);
  const mrzTop = H - TD3_PAGE.mrzHeight;
  both(
    '<g id="zone-IV">',
    `<text x="${n(COL[0] + 1)}" y="${n(sigTop + 1.9)}" font-size="${SIZE.caption}">Firma del titular / <tspan font-style="italic">${escapeXml("Holder's signature")}</tspan></text>`,
  );
  if (signature) {
    const box = { x: COL[0] + 1, y: sigTop + 2.6, width: full / 2, height: mrzTop - sigTop - 3 };
    holders(imageEl(signature, box, 'xMinYMid'), '', []);
  }
  both('</g>');

  // Zone V: the portrait, at most 35 x 45 mm, 2 mm from the left edge, aspect ratio kept.
  const faceBottom = mrzTop - 14.8; // Figure 7: 14.8 mm between the portrait and the MRZ.
  both('<g id="zone-V">');
  const faceBox = { x: TD3_PAGE.margin, y: faceBottom - 45, width: 35, height: 45 };
  holders(imageEl(face, faceBox, 'xMidYMid'), '', []);
  both('</g>', '</g>');

  // Zone VII: each MRZ character at its own cell, so the pitch is exact whatever the renderer.
  const mrzGroup = `font-family="'${DATA_PAGE_FONTS.ocrB.family}'" font-size="${n(mrzFontSize())}" fill="#000"`;
  both(`<g id="zone-VII" ${mrzGroup}>`);
  for (const [i, line] of [input.mrz.line1, input.mrz.line2].entries()) {
    const lefts = [...line].map((_, k) => +n(mrzCellLeft(k)));
    const baseline = mrzBaseline(i as 0 | 1);
    const svgOf = (text: string): string =>
      `<text x="${lefts.join(' ')}" y="${n(baseline)}">${escapeXml(text)}</text>`;
    holders(
      {
        svg: svgOf(line),
        box: textBox(
          mrzCellLeft(0),
          mrzCellLeft(TD3_LINE_LENGTH) - mrzCellLeft(0),
          baseline,
          mrzFontSize(),
        ),
        cells: { text: line, lefts, pitch: TD3_PAGE.mrzPitch, alphabet: MRZ_ALPHABET },
      },
      mrzGroup,
      [DATA_PAGE_FONT_DIR + DATA_PAGE_FONTS.ocrB.file],
      svgOf,
    );
  }
  both('</g>', '</svg>');
  return { svg: page.join('\n') + '\n', fixedSvg: fixed.join('\n') + '\n', overlays };
}

/** The MRZ zone alone (Zone VII at its place on a blank page), for the camera's glyph templates. */
export function mrzOnlySvg(lines: [string, string]): string {
  const W = TD3_PAGE.width;
  const H = TD3_PAGE.height;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}mm" height="${H}mm" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<g font-family="'${DATA_PAGE_FONTS.ocrB.family}'" font-size="${n(mrzFontSize())}">`,
  ];
  for (const [i, line] of lines.entries()) {
    if (!MRZ_CHARS.test(line))
      throw new DataPageError([`mrz line ${i + 1}: characters outside A-Z, 0-9, <`]);
    const xs = [...line].map((_, k) => n(mrzCellLeft(k))).join(' ');
    out.push(`<text x="${xs}" y="${n(mrzBaseline(i as 0 | 1))}">${escapeXml(line)}</text>`);
  }
  out.push('</g>', '</svg>');
  return out.join('\n') + '\n';
}
