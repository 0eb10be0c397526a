/**
 * Just enough of the OpenType font format (TrueType and CFF flavours) to lay text out without a
 * renderer: units per em, cap height and each character's advance width. The data page uses it
 * to fit a name into its field before the SVG is written, so the layout never depends on the
 * machine that later rasterizes it.
 */

export class FontError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FontError';
  }
}

/** Horizontal metrics of one font, in font units, with the character map needed to use them. */
export interface FontMetrics {
  unitsPerEm: number;
  /** OS/2 sCapHeight (height of flat capitals above the baseline). */
  capHeight: number;
  /** Advance width of the glyph for a code point; the .notdef advance when unmapped. */
  advance(codePoint: number): number;
  /** Whether the font has a glyph for the code point. */
  has(codePoint: number): boolean;
}

function tables(b: Buffer): Map<string, { offset: number; length: number }> {
  if (b.length < 12) throw new FontError('font file is truncated (no table directory)');
  const tag = b.readUInt32BE(0);
  // 0x00010000 TrueType outlines, 'OTTO' CFF outlines.
  if (tag !== 0x00010000 && tag !== 0x4f54544f)
    throw new FontError('not an OpenType/TrueType font (unknown sfnt version)');
  const n = b.readUInt16BE(4);
  const out = new Map<string, { offset: number; length: number }>();
  for (let i = 0; i < n; i++) {
    const p = 12 + i * 16;
    if (p + 16 > b.length) throw new FontError('font table directory is truncated');
    const offset = b.readUInt32BE(p + 8);
    const length = b.readUInt32BE(p + 12);
    if (offset + length > b.length)
      throw new FontError(`font table ${b.toString('latin1', p, p + 4)} lies past the file end`);
    out.set(b.toString('latin1', p, p + 4), { offset, length });
  }
  return out;
}

/** Code point → glyph id, from a format 4 (BMP) or format 12 (full range) Unicode subtable. */
function characterMap(b: Buffer, cmap: { offset: number }): (cp: number) => number {
  const base = cmap.offset;
  const count = b.readUInt16BE(base + 2);
  let best: { format: number; offset: number } | undefined;
  for (let i = 0; i < count; i++) {
    const platform = b.readUInt16BE(base + 4 + i * 8);
    const encoding = b.readUInt16BE(base + 6 + i * 8);
    const offset = base + b.readUInt32BE(base + 8 + i * 8);
    const unicode = platform === 0 || (platform === 3 && (encoding === 1 || encoding === 10));
    if (!unicode) continue;
    const format = b.readUInt16BE(offset);
    if (format === 12 && best?.format !== 12) best = { format, offset };
    else if (format === 4 && !best) best = { format, offset };
  }
  if (!best) throw new FontError('font has no Unicode character map (cmap format 4 or 12)');
  const { format, offset } = best;
  if (format === 12) {
    const groups = b.readUInt32BE(offset + 12);
    return (cp) => {
      for (let g = 0; g < groups; g++) {
        const p = offset + 16 + g * 12;
        const start = b.readUInt32BE(p);
        const end = b.readUInt32BE(p + 4);
        if (cp >= start && cp <= end) return b.readUInt32BE(p + 8) + (cp - start);
      }
      return 0;
    };
  }
  const segX2 = b.readUInt16BE(offset + 6);
  const ends = offset + 14;
  const starts = ends + segX2 + 2;
  const deltas = starts + segX2;
  const rangeOffsets = deltas + segX2;
  return (cp) => {
    if (cp > 0xffff) return 0;
    for (let s = 0; s < segX2; s += 2) {
      if (cp > b.readUInt16BE(ends + s)) continue;
      const start = b.readUInt16BE(starts + s);
      if (cp < start) return 0;
      const delta = b.readInt16BE(deltas + s);
      const ro = b.readUInt16BE(rangeOffsets + s);
      if (ro === 0) return (cp + delta) & 0xffff;
      const g = b.readUInt16BE(rangeOffsets + s + ro + (cp - start) * 2);
      return g === 0 ? 0 : (g + delta) & 0xffff;
    }
    return 0;
  };
}

/** Reads the metrics of an OpenType or TrueType font file. */
export function fontMetrics(data: Uint8Array): FontMetrics {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const t = tables(b);
  const need = (name: string): { offset: number; length: number } => {
    const x = t.get(name);
    if (!x) throw new FontError(`font has no ${name} table`);
    return x;
  };
  const head = need('head');
  const hhea = need('hhea');
  const hmtx = need('hmtx');
  const unitsPerEm = b.readUInt16BE(head.offset + 18);
  const numberOfHMetrics = b.readUInt16BE(hhea.offset + 34);
  const os2 = t.get('OS/2');
  const capHeight =
    os2 && b.readUInt16BE(os2.offset) >= 2 && os2.length >= 90
      ? b.readInt16BE(os2.offset + 88)
      : Math.round(unitsPerEm * 0.7);
  const glyphOf = characterMap(b, need('cmap'));
  const cache = new Map<number, number>();
  const advanceOfGlyph = (g: number): number => {
    const i = Math.min(g, numberOfHMetrics - 1);
    return b.readUInt16BE(hmtx.offset + i * 4);
  };
  return {
    unitsPerEm,
    capHeight,
    has: (cp) => glyphOf(cp) !== 0,
    advance: (cp) => {
      let a = cache.get(cp);
      if (a === undefined) {
        a = advanceOfGlyph(glyphOf(cp));
        cache.set(cp, a);
      }
      return a;
    },
  };
}

/** Width of a string set in a font at `size` (same unit as size), without kerning. */
export function textWidth(font: FontMetrics, text: string, size: number): number {
  let units = 0;
  for (const ch of text) units += font.advance(ch.codePointAt(0)!);
  return (units * size) / font.unitsPerEm;
}
