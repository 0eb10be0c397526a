/**
 * Rasterizes the data page SVG at the printer's resolution with resvg, from the font files
 * committed in assets/fonts only (no system fonts), so the pixels do not depend on the machine.
 */
import { Resvg } from '@resvg/resvg-js';
import {
  DATA_PAGE_FONTS,
  type DataPageLayers,
  type Box,
  type PageCells,
  type PageImage,
  type PageOverlay,
  TD3_PAGE,
  dataPageFontFiles,
} from './data-page.ts';

/** The simulated passport printer's resolution (dots per inch), typical of card/booklet printers. */
export const PRINTER_DPI = 300;

/** An RGBA raster of the data page (row-major, 4 bytes a pixel, opaque). */
export interface PageRaster {
  width: number;
  height: number;
  dpi: number;
  rgba: Uint8Array;
}

/** Page size in pixels at `dpi`: the 125 x 88 mm page rounded to whole pixels. */
export function pagePixels(dpi: number): { width: number; height: number } {
  return {
    width: Math.round((TD3_PAGE.width * dpi) / 25.4),
    height: Math.round((TD3_PAGE.height * dpi) / 25.4),
  };
}

function checkDpi(dpi: number): void {
  if (!Number.isFinite(dpi) || dpi < 72 || dpi > 2400)
    throw new RangeError(`printer resolution ${dpi} dpi is outside 72-2400`);
}

function resvg(
  svg: string,
  dpi: number,
  width = pagePixels(dpi).width,
  fontFiles = dataPageFontFiles(),
): Resvg {
  checkDpi(dpi);
  return new Resvg(svg, {
    font: {
      loadSystemFonts: false,
      fontFiles,
      defaultFontFamily: DATA_PAGE_FONTS.regular.family,
    },
    fitTo: { mode: 'width', value: width },
    background: '#ffffff',
    // Resvg logs to stderr what it cannot draw; the layout is checked before it gets here.
    logLevel: 'off',
  });
}

function raster(r: Resvg, dpi: number): PageRaster {
  const img = r.render();
  // `pixels` hands over a fresh copy of the native pixmap each time it is read: read it once and
  // view it in place (a second copy of 6 MB a page was a measurable part of each job).
  const px = img.pixels;
  return {
    width: img.width,
    height: img.height,
    dpi,
    rgba: new Uint8Array(px.buffer, px.byteOffset, px.length),
  };
}

/** Rasterizes a data page SVG (from `dataPageSvg`) at `dpi`. */
export function rasterizeDataPage(svg: string, dpi = PRINTER_DPI): PageRaster {
  return raster(resvg(svg, dpi), dpi);
}

/** An RGBA raster at pixel offset (x, y) of its page. */
export type PlacedRaster = {
  x: number;
  y: number;
  width: number;
  height: number;
} & ({ rgba: Uint8Array; grey?: undefined } | { grey: Uint8Array; rgba?: undefined });

/**
 * A data page as its fixed layer and the holder's data over it (drivers/page-transfer.ts
 * `LayeredRaster`, which the printer client encodes as it would the whole page drawn at once).
 */
export interface LayeredPageRaster {
  width: number;
  height: number;
  dpi: number;
  /** Shared by every page with the same fixed layer: never to be written. */
  fixed: PageRaster;
  overlays: PlacedRaster[];
}

/**
 * Fixed layers already drawn, by resolution and SVG: a station prints one or a few (fields such
 * as the place of birth are left out when empty, and with them their captions). They hold
 * nothing of a holder (dataPageLayers), so keeping them keeps no personal data.
 */
const fixedLayers = new Map<string, PageRaster>();
const FIXED_LAYERS_KEPT = 4;

/**
 * The value kept under `key` in `cache`, or `make()`'s, kept: the `kept` most recently used
 * stay (the least recently used is dropped first).
 */
function keptOrMade<V>(cache: Map<string, V>, kept: number, key: string, make: () => V): V {
  let v: V;
  if (cache.has(key)) {
    v = cache.get(key)!;
    cache.delete(key);
  } else {
    v = make();
    if (cache.size >= kept) cache.delete(cache.keys().next().value!);
  }
  cache.set(key, v);
  return v;
}

function fixedLayer(svg: string, dpi: number): PageRaster {
  return keptOrMade(fixedLayers, FIXED_LAYERS_KEPT, `${dpi}\n${svg}`, () =>
    rasterizeDataPage(svg, dpi),
  );
}

/**
 * Rasterizes a data page for printing at `dpi`: its fixed layer once for every page that shares
 * it, and each overlay alone in its box (`drawOverlay`), on the same pixel grid as the whole page.
 * The printed page is the fixed layer darkened by the overlays, which is the whole page's raster
 * (but for the pictures' resampling filter): the tests compare the two.
 */
export function rasterizeDataPageLayers(
  layers: DataPageLayers,
  dpi = PRINTER_DPI,
): LayeredPageRaster {
  const fixed = fixedLayer(layers.fixedSvg, dpi);
  const { width, height } = fixed;
  const overlays = layers.overlays.map((o): PlacedRaster => {
    const { drawnBy: _, ...placed } = drawOverlay(o, { width, height, dpi });
    return placed;
  });
  return { width, height, dpi, fixed, overlays };
}

/** How an overlay was drawn: by resvg, put together from glyphs per cell, or resampled. */
export type OverlayDrawing = 'resvg' | 'cells' | 'resampled';

/**
 * One overlay of a page `width` x `height` pixels at `dpi`, in its box (widened to whole pixels
 * and one pixel more), on the page's pixel grid: an image resampled, a line of cells from its
 * glyphs, anything else (or everything, with `resvgOnly`) by resvg.
 */
export function drawOverlay(
  { svg, box, fontFiles, image, cells, shared }: PageOverlay,
  page: { width: number; height: number; dpi: number },
  { resvgOnly = false } = {},
): PlacedRaster & { drawnBy: OverlayDrawing } {
  const { width, height, dpi } = page;
  // Millimetres to pixels as resvg maps the whole page: the page's width in pixels fitted to the
  // resolution, its height rounded to whole pixels, each axis scaled to its own.
  const sx = width / TD3_PAGE.width;
  const sy = height / TD3_PAGE.height;
  const x0 = Math.max(0, Math.floor(box.x * sx) - 1);
  const y0 = Math.max(0, Math.floor(box.y * sy) - 1);
  const x1 = Math.min(width, Math.ceil((box.x + box.width) * sx) + 1);
  const y1 = Math.min(height, Math.ceil((box.y + box.height) * sy) + 1);
  if (x1 <= x0 || y1 <= y0)
    throw new RangeError(`overlay box ${JSON.stringify(box)} is outside the page`);
  const place: Placement = { x0, y0, w: x1 - x0, h: y1 - y0, sx, sy, dpi };
  const at = { x: x0, y: y0, width: place.w, height: place.h };
  if (image && !resvgOnly) return { ...at, grey: resampled(image, place), drawnBy: 'resampled' };
  const fromGlyphs =
    cells && !resvgOnly && cells.svgOf(cells.text) === svg
      ? fromCells(cells, fontFiles, place)
      : undefined;
  if (fromGlyphs) return { ...at, grey: fromGlyphs, drawnBy: 'cells' };
  if (!shared || resvgOnly) return { ...at, rgba: drawn(svg, fontFiles, place), drawnBy: 'resvg' };
  const rgba = keptOrMade(
    sharedOverlays,
    SHARED_OVERLAYS_KEPT,
    JSON.stringify([place, fontFiles, svg]),
    () => drawn(svg, fontFiles, place),
  );
  return { ...at, rgba, drawnBy: 'resvg' };
}

/**
 * Overlays the same on many pages (PageOverlay `shared`: the document's type, State, date of
 * issue, authority; nothing of a holder), kept drawn by placement, fonts and SVG. Shared by the
 * pages that use them: never to be written.
 */
const sharedOverlays = new Map<string, Uint8Array>();
const SHARED_OVERLAYS_KEPT = 16;

/** An overlay's pixels: `w` x `h` from page pixel (x0, y0); millimetres to pixels by sx, sy. */
export interface Placement {
  x0: number;
  y0: number;
  w: number;
  h: number;
  sx: number;
  sy: number;
  dpi: number;
}

/** An overlay's SVG drawn by resvg in its box, on the page's pixel grid. */
function drawn(
  svg: string,
  fontFiles: string[],
  { x0, y0, w, h, sx, sy, dpi }: Placement,
): Uint8Array {
  const doc =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" preserveAspectRatio="none" ` +
    `viewBox="${x0 / sx} ${y0 / sy} ${w / sx} ${h / sy}">${svg}</svg>`;
  // Only the fonts it is set in: resvg reads a font file it is given again for each glyph.
  const r = raster(resvg(doc, dpi, w, fontFiles), dpi);
  if (r.width !== w || r.height !== h)
    throw new Error(`overlay rendered ${r.width} x ${r.height}, its box is ${w} x ${h} pixels`);
  return r.rgba;
}

/** The glyphs of every character of a cells overlay's alphabet, each drawn in every cell. */
interface CellGlyphs {
  /** Overlay columns where each cell starts (and, last, the overlay's width). */
  starts: number[];
  /** Per character: the overlay's rows from `top` holding ink, grey, the whole width. */
  glyphs: Map<string, { top: number; rows: number; grey: Uint8Array }>;
}

/**
 * Glyph sets drawn, by resolution, placement, fonts and text template; `null` where the glyphs
 * reach across a cell's edge and the line must be drawn whole. They hold the whole alphabet in
 * every cell and nothing of a holder.
 */
const cellGlyphSets = new Map<string, CellGlyphs | null>();
const CELL_GLYPH_SETS_KEPT = 4;

function cellGlyphs(cells: PageCells, fontFiles: string[], place: Placement): CellGlyphs | null {
  const key = JSON.stringify([
    place,
    fontFiles,
    cells.svgOf(cells.alphabet[0]!.repeat(cells.text.length)),
  ]);
  return keptOrMade(cellGlyphSets, CELL_GLYPH_SETS_KEPT, key, () =>
    drawCellGlyphs(cells, fontFiles, place),
  );
}

function drawCellGlyphs(
  cells: PageCells,
  fontFiles: string[],
  place: Placement,
): CellGlyphs | null {
  const { x0, w, h, sx } = place;
  // A cell's columns run from the pixel its left edge falls in to the next cell's.
  const starts = [0, ...cells.lefts.slice(1).map((l) => Math.floor(l * sx) - x0), w];
  let set: CellGlyphs | null = { starts, glyphs: new Map() };
  for (const ch of cells.alphabet) {
    // The character in every cell at once: the same glyph at each cell's own sub-pixel offset.
    const rgba = drawn(cells.svgOf(ch.repeat(cells.text.length)), fontFiles, place);
    const grey = new Uint8Array(w * h);
    for (let p = 0; p < grey.length; p++) grey[p] = rgba[p * 4]!;
    const inkAt = (x: number): boolean => {
      for (let y = 0; y < h; y++) if (grey[y * w + x]! < 255) return true;
      return false;
    };
    // Exact only if no glyph inks either column at a cell's edge (the nearest ink is 3 columns
    // away in OCR-B at 300 dpi).
    if (starts.slice(1, -1).some((x) => inkAt(x - 1) || inkAt(x))) {
      set = null;
      break;
    }
    let top = 0;
    while (top < h && grey.subarray(top * w, top * w + w).every((v) => v === 255)) top++;
    let bottom = h;
    while (bottom > top && grey.subarray((bottom - 1) * w, bottom * w).every((v) => v === 255))
      bottom--;
    set.glyphs.set(ch, { top, rows: bottom - top, grey: grey.slice(top * w, bottom * w) });
  }
  return set;
}

/**
 * A line of fixed-pitch text (the MRZ) put together from its characters' glyphs, each drawn once
 * in each cell: the pixels resvg draws for the line, since no glyph reaches its cell's edge
 * (`cellGlyphs` checks). Undefined when that does not hold or a character is not in the set.
 */
function fromCells(
  cells: PageCells,
  fontFiles: string[],
  place: Placement,
): Uint8Array | undefined {
  const set = cellGlyphs(cells, fontFiles, place);
  if (!set || cells.text.length !== set.starts.length - 1) return undefined;
  const { w, h } = place;
  const out = new Uint8Array(w * h).fill(255);
  for (let k = 0; k < cells.text.length; k++) {
    const g = set.glyphs.get(cells.text[k]!);
    if (!g) return undefined;
    const from = set.starts[k]!;
    const to = set.starts[k + 1]!;
    const glyph = g.grey;
    for (let r = 0; r < g.rows; r++) {
      const src = r * w;
      const dst = (g.top + r) * w;
      for (let x = from; x < to; x++) out[dst + x] = glyph[src + x]!;
    }
  }
  return out;
}

/** A JPEG's pixels as they are (no scaling, nearest sample): decoded by resvg, as on the page. */
function decodeJpeg(image: PageImage): Uint8Array {
  const { width, height } = image;
  const href = `data:image/jpeg;base64,${Buffer.from(image.jpeg).toString('base64')}`;
  const r = new Resvg(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
      `<image width="${width}" height="${height}" href="${href}"/></svg>`,
    {
      font: { loadSystemFonts: false },
      fitTo: { mode: 'original' },
      background: '#ffffff',
      imageRendering: 1,
      logLevel: 'off',
    },
  );
  const img = raster(r, 0);
  if (img.width !== width || img.height !== height)
    throw new Error(`a ${width} x ${height} JPEG decoded as ${img.width} x ${img.height}`);
  return img.rgba;
}

/**
 * Per destination column (or row): the source samples it takes (`from[i]` to `from[i + 1]` in
 * `index` and `weight`, the weights summing to 1) and the share of the pixel the image covers.
 */
interface Taps {
  from: Int32Array;
  index: Int32Array;
  weight: Float64Array;
  cover: Float64Array;
}

/**
 * Samples for `count` destination pixels from `first` (page pixels) of an image `size` pixels
 * long placed from `start` to `end` (page pixels), by a triangle filter as wide as a destination
 * pixel's footprint in the image and never narrower than a source pixel: enlarging, the two
 * nearest samples (bilinear); reducing, every sample under the footprint, so a large picture is
 * averaged rather than skipped through. Edges repeat the outermost samples.
 */
function taps(first: number, count: number, start: number, end: number, size: number): Taps {
  const scale = size / (end - start);
  const support = Math.max(1, scale);
  // At most this many samples fall strictly inside a triangle 2 * support wide.
  const most = Math.ceil(2 * support) + 2;
  const from = new Int32Array(count + 1);
  const index = new Int32Array(count * most);
  const weight = new Float64Array(count * most);
  const cover = new Float64Array(count);
  let n = 0;
  for (let i = 0; i < count; i++) {
    const p = first + i;
    cover[i] = Math.max(0, Math.min(p + 1, end) - Math.max(p, start));
    // The pixel's centre in the image, where sample k's centre is at k + 0.5.
    const u = (p + 0.5 - start) * scale;
    const k0 = Math.floor(u - support);
    const k1 = Math.ceil(u + support);
    const at = n;
    let total = 0;
    for (let k = k0; k <= k1; k++) {
      const w = 1 - Math.abs(k + 0.5 - u) / support;
      if (w <= 0) continue;
      index[n] = Math.min(size - 1, Math.max(0, k));
      weight[n++] = w;
      total += w;
    }
    for (let t = at; t < n; t++) weight[t] = weight[t]! / total;
    from[i + 1] = n;
  }
  return { from, index: index.subarray(0, n), weight: weight.subarray(0, n), cover };
}

/**
 * An image overlay drawn without resvg's bicubic filter, which cost most of a page's raster (a
 * portrait enlarged ~1.7 times took 15-20 ms of CPU): the JPEG decoded at its own size, taken to
 * grey as the printer does (drivers/page-transfer.ts), and resampled onto the page's pixel grid
 * (`taps`: bilinear enlarging, averaging reducing), rows first, its edges anti-aliased by the
 * share of each pixel it covers. Its grey levels stay within a few of resvg's
 * (test/data-page-layers.test.ts); the printer prints grey or dots only.
 */
function resampled(image: PageImage, place: Placement): Uint8Array {
  const rgba = decodeJpeg(image);
  const grey = new Uint8Array(image.width * image.height);
  for (let p = 0, i = 0; p < grey.length; p++, i += 4)
    grey[p] = (77 * rgba[i]! + 150 * rgba[i + 1]! + 29 * rgba[i + 2]!) >> 8;
  return resampleGrey({ grey, width: image.width, height: image.height }, image.placed, place);
}

/**
 * A grey picture `width` x `height` filling `placed` (mm), resampled onto the page grid of
 * `place` (`w` x `h` pixels from page pixel x0, y0; millimetres to pixels by sx, sy): paper
 * (255) where the picture is not, its edges weighted by the share of each pixel it covers.
 */
export function resampleGrey(
  { grey, width, height }: { grey: Uint8Array; width: number; height: number },
  placed: Box,
  { x0, y0, w, h, sx, sy }: Omit<Placement, 'dpi'>,
): Uint8Array {
  const cols = taps(x0, w, placed.x * sx, (placed.x + placed.width) * sx, width);
  const rows = taps(y0, h, placed.y * sy, (placed.y + placed.height) * sy, height);
  // Each source row resampled to the destination's columns, then the columns down the rows.
  const { from: cFrom, index: cIndex, weight: cWeight, cover: cCover } = cols;
  const { from: rFrom, index: rIndex, weight: rWeight, cover: rCover } = rows;
  const across = new Float32Array(height * w);
  for (let y = 0; y < height; y++) {
    const src = y * width;
    const dst = y * w;
    for (let i = 0; i < w; i++) {
      let v = 0;
      const end = cFrom[i + 1]!;
      for (let t = cFrom[i]!; t < end; t++) v += grey[src + cIndex[t]!]! * cWeight[t]!;
      across[dst + i] = v;
    }
  }
  const out = new Uint8Array(w * h).fill(255);
  const column = new Float64Array(w);
  for (let j = 0; j < h; j++) {
    const coverY = rCover[j]!;
    if (coverY === 0) continue;
    const first = rFrom[j]!;
    const end = rFrom[j + 1]!;
    if (end - first === 2) {
      // Two rows (every row when enlarging): in one pass.
      const a = rIndex[first]! * w;
      const b = rIndex[first + 1]! * w;
      const wa = rWeight[first]!;
      const wb = rWeight[first + 1]!;
      for (let i = 0; i < w; i++) column[i] = across[a + i]! * wa + across[b + i]! * wb;
    } else {
      column.fill(0);
      for (let t = first; t < end; t++) {
        const src = rIndex[t]! * w;
        const wt = rWeight[t]!;
        for (let i = 0; i < w; i++) column[i] = column[i]! + across[src + i]! * wt;
      }
    }
    const row = j * w;
    for (let i = 0; i < w; i++) {
      const cover = cCover[i]! * coverY;
      // Rounded to the nearest level (the value is never negative).
      if (cover === 1) out[row + i] = column[i]! + 0.5;
      else if (cover !== 0) out[row + i] = 255.5 - (255 - column[i]!) * cover;
    }
  }
  return out;
}

/** The data page as PNG at `dpi` (for the simulator's dump and for people to look at). */
export function dataPagePng(svg: string, dpi = PRINTER_DPI): Buffer {
  return resvg(svg, dpi).render().asPng();
}
