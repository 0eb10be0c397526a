/**
 * Makes assets/fonts/DejaVuSansCondensed-Latin.ttf: DejaVu Sans Condensed (regular) cut down to
 * the Latin script, for drawing the data page's field values one at a time. resvg reads a font
 * file again for every glyph it sets, so a value set from the 683 kB file costs over a
 * millisecond of copying; from the 50 kB cut, a tenth of it. Glyph outlines, metrics and kerning
 * are hb-subset's copies of the original's (the tests compare the pixels), and the family name is
 * unchanged (the Bitstream Vera licence asks only that modified fonts not be named "Bitstream"
 * or "Vera"). A value with a character outside the cut is drawn from the whole file.
 *
 *   node scripts/subset-fonts.mjs [output file (default: the committed one)]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import subsetFont from 'subset-font';

const dir = new URL('../assets/fonts/', import.meta.url);

/** The code points kept, as [first, last] ranges: the Latin blocks and common punctuation. */
export const LATIN_RANGES = [
  [0x20, 0x7e], // Basic Latin
  [0xa0, 0x24f], // Latin-1 Supplement, Latin Extended-A and -B
  [0x1e00, 0x1eff], // Latin Extended Additional
  [0x2010, 0x2027], // dashes, quotation marks, bullet, ellipsis
];

let text = '';
for (const [first, last] of LATIN_RANGES)
  for (let c = first; c <= last; c++) text += String.fromCodePoint(c);

const source = readFileSync(new URL('DejaVuSansCondensed.ttf', dir));
const cut = await subsetFont(source, text, { targetFormat: 'truetype' });
writeFileSync(process.argv[2] ?? new URL('DejaVuSansCondensed-Latin.ttf', dir), cut);
console.log(`DejaVuSansCondensed-Latin.ttf: ${cut.length} bytes (from ${source.length})`);
