/**
 * Rasterizes the data page SVG at the printer's resolution with resvg, from the font files
 * committed in assets/fonts only (no system fonts), so the pixels do not depend on the machine.
 */
import { Resvg } from '@resvg/resvg-js';
import { DATA_PAGE_FONTS, TD3_PAGE, dataPageFontFiles } from './data-page.ts';

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

function resvg(svg: string, dpi: number): Resvg {
  if (!Number.isFinite(dpi) || dpi < 72 || dpi > 2400)
    throw new RangeError(`printer resolution ${dpi} dpi is outside 72-2400`);
  return new Resvg(svg, {
    font: {
      loadSystemFonts: false,
      fontFiles: dataPageFontFiles(),
      defaultFontFamily: DATA_PAGE_FONTS.regular.family,
    },
    fitTo: { mode: 'width', value: pagePixels(dpi).width },
    background: '#ffffff',
    // Resvg logs to stderr what it cannot draw; the layout is checked before it gets here.
    logLevel: 'off',
  });
}

/** Rasterizes a data page SVG (from `dataPageSvg`) at `dpi`. */
export function rasterizeDataPage(svg: string, dpi = PRINTER_DPI): PageRaster {
  const img = resvg(svg, dpi).render();
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

/** The data page as PNG at `dpi` (for the simulator's dump and for people to look at). */
export function dataPagePng(svg: string, dpi = PRINTER_DPI): Buffer {
  return resvg(svg, dpi).render().asPng();
}
