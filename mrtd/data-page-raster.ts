/**
 * Rasterizes the data page SVG at the printer's resolution with resvg, from the font files
 * committed in assets/fonts only (no system fonts), so the pixels do not depend on the machine.
 */
import { Resvg } from '@resvg/resvg-js';
import { DATA_PAGE_FONTS, type DataPageLayers, TD3_PAGE, dataPageFontFiles } from './data-page.ts';

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
export interface PlacedRaster extends Omit<PageRaster, 'dpi'> {
  x: number;
  y: number;
}

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

function fixedLayer(svg: string, dpi: number): PageRaster {
  const key = `${dpi}\n${svg}`;
  let r = fixedLayers.get(key);
  if (r) fixedLayers.delete(key);
  else {
    r = rasterizeDataPage(svg, dpi);
    if (fixedLayers.size >= FIXED_LAYERS_KEPT) fixedLayers.delete(fixedLayers.keys().next().value!);
  }
  fixedLayers.set(key, r);
  return r;
}

/**
 * Rasterizes a data page for printing at `dpi`: its fixed layer once for every page that shares
 * it, and each overlay alone in its box (widened to whole pixels and one pixel more), on the same
 * pixel grid as the whole page. The printed page is the fixed layer darkened by the overlays,
 * which is the whole page's raster: the tests compare the two.
 */
export function rasterizeDataPageLayers(
  layers: DataPageLayers,
  dpi = PRINTER_DPI,
): LayeredPageRaster {
  const fixed = fixedLayer(layers.fixedSvg, dpi);
  const { width, height } = fixed;
  // Millimetres to pixels as resvg maps the whole page: the page's width in pixels fitted to the
  // resolution, its height rounded to whole pixels, each axis scaled to its own.
  const sx = width / TD3_PAGE.width;
  const sy = height / TD3_PAGE.height;
  const overlays = layers.overlays.map(({ svg, box, fontFiles }): PlacedRaster => {
    const x0 = Math.max(0, Math.floor(box.x * sx) - 1);
    const y0 = Math.max(0, Math.floor(box.y * sy) - 1);
    const x1 = Math.min(width, Math.ceil((box.x + box.width) * sx) + 1);
    const y1 = Math.min(height, Math.ceil((box.y + box.height) * sy) + 1);
    if (x1 <= x0 || y1 <= y0)
      throw new RangeError(`overlay box ${JSON.stringify(box)} is outside the page`);
    const w = x1 - x0;
    const h = y1 - y0;
    const doc =
      `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" preserveAspectRatio="none" ` +
      `viewBox="${x0 / sx} ${y0 / sy} ${w / sx} ${h / sy}">${svg}</svg>`;
    // Only the fonts it is set in: resvg reads a font file it is given again for each glyph.
    const r = raster(resvg(doc, dpi, w, fontFiles), dpi);
    if (r.width !== w || r.height !== h)
      throw new Error(`overlay rendered ${r.width} x ${r.height}, its box is ${w} x ${h} pixels`);
    return { x: x0, y: y0, width: w, height: h, rgba: r.rgba };
  });
  return { width, height, dpi, fixed, overlays };
}

/** The data page as PNG at `dpi` (for the simulator's dump and for people to look at). */
export function dataPagePng(svg: string, dpi = PRINTER_DPI): Buffer {
  return resvg(svg, dpi).render().asPng();
}
