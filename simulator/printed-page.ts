/**
 * The page the simulated printer printed: the raster it received (kept compressed, as sent),
 * and the print faults of its booklet. What ended up on the paper is derived from both, the
 * same way every time: the received pixels, a misprinted line, then shift, smear and fade
 * (simulator/camera.ts's model). The camera reads that page; the dump writes it as PNG.
 */
import { deflateSync } from 'node:zlib';
import { crc32 } from 'node:zlib';
import { decodePage, type PageHeader } from '../drivers/page-transfer.ts';
import { TD3_PAGE } from '../mrtd/data-page.ts';
import type { PageRaster } from '../mrtd/data-page-raster.ts';
import { degradeZone, type PrintFaults } from './camera.ts';

/** How the print went wrong, if it did (docs/hopper-format.md, the print faults). */
export interface PagePrintFaults extends PrintFaults {
  /** The print head printed MRZ line 1 again where line 2 belongs. */
  misprint?: boolean;
}

export interface PrintedPage {
  header: PageHeader;
  /** The compressed page exactly as received (its SHA-256 matched). */
  data: Buffer;
  faults: PagePrintFaults;
}

/** The page as printed: 8-bit luminance, one byte a pixel (0 ink, 255 paper). */
export function printedGrey(page: PrintedPage): {
  width: number;
  height: number;
  gray: Uint8Array;
} {
  const { width, height, dpi } = page.header;
  const gray = decodePage(page.header, page.data);
  if (page.faults.misprint) {
    // Line 1's band (its reference centre line +- half the line spacing) printed over line 2's.
    const mm = dpi / 25.4;
    const [upper, lower] = TD3_PAGE.mrzCentreFromBottom;
    const half = Math.floor(((upper - lower) / 2) * mm);
    const from = height - Math.round(upper * mm) - half;
    const to = height - Math.round(lower * mm) - half;
    if (from >= 0 && to + 2 * half <= height)
      gray.copyWithin(to * width, from * width, (from + 2 * half) * width);
  }
  const z = { width, height, gray };
  degradeZone(z, page.faults);
  return z;
}

/** The printed page as the RGBA raster the camera reads. */
export function printedRaster(page: PrintedPage): PageRaster {
  const { width, height, gray } = printedGrey(page);
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0, i = 0; p < gray.length; p++, i += 4) {
    const v = gray[p]!;
    rgba[i] = v;
    rgba[i + 1] = v;
    rgba[i + 2] = v;
    rgba[i + 3] = 255;
  }
  return { width, height, dpi: page.header.dpi, rgba };
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** The printed page as an 8-bit greyscale PNG, with its resolution (pHYs) for other tools. */
export function printedPng(page: PrintedPage): Buffer {
  const { width, height, gray } = printedGrey(page);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const phys = Buffer.alloc(9);
  const perMetre = Math.round(page.header.dpi / 0.0254);
  phys.writeUInt32BE(perMetre, 0);
  phys.writeUInt32BE(perMetre, 4);
  phys[8] = 1; // unit: metre
  // Each row is its filter byte (0: none) and its pixels.
  const rows = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++)
    rows.set(gray.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('pHYs', phys),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
