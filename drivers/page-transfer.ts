/**
 * The page raster of a print job on the wire (docs/protocol.md, "Printing a page"): the pixel
 * formats, their compression, and the payloads of PRINT_DATA_PAGE's BEGIN, DATA and COMMIT.
 * Both sides use it: the printer client to send a page, the simulated printer to receive one.
 */
import { createHash } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { PageFormat, PageOp } from './protocol.ts';

/** An RGBA raster (row-major, 4 bytes a pixel), e.g. mrtd/data-page-raster.ts's PageRaster. */
export interface RgbaRaster {
  width: number;
  height: number;
  dpi: number;
  rgba: Uint8Array;
}

/**
 * A raster placed on a page at pixel offset (x, y): RGBA, or grey (a byte a pixel, the luminance
 * the printer takes of RGBA), which is a quarter of the memory for what is printed in grey anyway.
 */
export type RasterOverlay = {
  x: number;
  y: number;
  width: number;
  height: number;
} & ({ rgba: Uint8Array; grey?: undefined } | { grey: Uint8Array; rgba?: undefined });

/**
 * A page as a fixed layer shared by many pages (never written here; what is derived from it for
 * each format is kept with it) and overlays drawn over it. Paper is white and ink dark, and no
 * overlay's ink meets another's or the fixed layer's, so a pixel of the page is the darker of
 * the layers there: the same page as drawing all of it at once, for a fraction of the pixels.
 */
export interface LayeredRaster {
  width: number;
  height: number;
  dpi: number;
  fixed: RgbaRaster;
  overlays: readonly RasterOverlay[];
}

export type PageFormatName = 'mono1' | 'grey8';
export const PAGE_FORMAT_CODES: Record<PageFormatName, number> = {
  mono1: PageFormat.MONO1,
  grey8: PageFormat.GREY8,
};

/** The largest compressed page a printer accepts (bounds its receive buffer). */
export const MAX_PAGE_BYTES = 16 * 1024 * 1024;
/** BEGIN: op, format u8, width u16, height u16, dpi u16, length u32, SHA-256. */
const BEGIN_LENGTH = 1 + 1 + 2 + 2 + 2 + 4 + 32;
/** DATA header: op, page id u16, offset u32; the bytes follow. */
export const DATA_HEADER = 1 + 2 + 4;

export interface PageHeader {
  format: number;
  width: number;
  height: number;
  dpi: number;
  /** Length of the compressed page in bytes. */
  length: number;
  sha256: Buffer;
}

/** A page ready to send: its header and compressed bytes. */
export interface EncodedPage extends PageHeader {
  data: Buffer;
}

/** 4 x 4 ordered-dither thresholds (Bayer), scaled to 0..255. */
const BAYER4 = [0, 8, 2, 10, 12, 4, 14, 6, 3, 11, 1, 9, 15, 7, 13, 5].map((v) => (v + 0.5) * 16);

/** Luminance as the printer and its camera see it (the same weights as simulator/camera.ts). */
function luminance(rgba: Uint8Array, i: number): number {
  return (77 * rgba[i]! + 150 * rgba[i + 1]! + 29 * rgba[i + 2]!) >> 8;
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * MONO1 rows: a pixel is ink where its luminance is below the 4 x 4 ordered-dither threshold of
 * its place. Most of a page is paper: an opaque white pixel (luminance 255, above every
 * threshold) is skipped with one 32-bit read, and each output byte is written once.
 */
function ditherMono1(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const stride = Math.ceil(width / 8);
  const raw = new Uint8Array(stride * height);
  const words =
    littleEndian && rgba.byteOffset % 4 === 0
      ? new Uint32Array(rgba.buffer, rgba.byteOffset, width * height)
      : undefined;
  for (let y = 0; y < height; y++) {
    const t = (y & 3) * 4;
    const t0 = BAYER4[t]!;
    const t1 = BAYER4[t + 1]!;
    const t2 = BAYER4[t + 2]!;
    const t3 = BAYER4[t + 3]!;
    let p = y * width;
    let out = y * stride;
    for (let x0 = 0; x0 < width; x0 += 8, out++) {
      let byte = 0;
      const end = Math.min(8, width - x0);
      for (let k = 0; k < end; k++, p++) {
        if (words !== undefined && words[p] === 0xffffffff) continue;
        const i = p * 4;
        const lum = luminance(rgba, i);
        const x = x0 + k;
        const threshold = x & 2 ? (x & 1 ? t3 : t2) : x & 1 ? t1 : t0;
        if (lum < threshold) byte |= 0x80 >> k;
      }
      raw[out] = byte;
    }
  }
  return raw;
}

/** The ordered-dither threshold at page pixel (x, y). */
function threshold(x: number, y: number): number {
  return BAYER4[(y & 3) * 4 + (x & 3)]!;
}

function checkSize(width: number, height: number, dpi: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new RangeError(`page raster size ${width} x ${height} is not a positive whole size`);
  if (width > 0xffff || height > 0xffff || !Number.isInteger(dpi) || dpi < 1 || dpi > 0xffff)
    throw new RangeError(`page raster ${width} x ${height} at ${dpi} dpi is out of range`);
}

function checkRgba(what: string, r: { width: number; height: number; rgba: Uint8Array }): void {
  if (r.rgba.length !== r.width * r.height * 4)
    throw new RangeError(
      `${what} holds ${r.rgba.length} bytes, ${r.width} x ${r.height} RGBA needs ${r.width * r.height * 4}`,
    );
}

function greyOf(rgba: Uint8Array, pixels: number): Uint8Array {
  const raw = new Uint8Array(pixels);
  for (let p = 0, i = 0; p < pixels; p++, i += 4) raw[p] = luminance(rgba, i);
  return raw;
}

/** What each format makes of a fixed layer, made once per layer (its pixels never change). */
const fixedEncodings = new WeakMap<Uint8Array, Partial<Record<PageFormatName, Uint8Array>>>();
function fixedEncoding(fixed: RgbaRaster, format: PageFormatName): Uint8Array {
  let memo = fixedEncodings.get(fixed.rgba);
  if (!memo) fixedEncodings.set(fixed.rgba, (memo = {}));
  return (memo[format] ??=
    format === 'grey8'
      ? greyOf(fixed.rgba, fixed.width * fixed.height)
      : ditherMono1(fixed.rgba, fixed.width, fixed.height));
}

/**
 * Marks in MONO1 rows (`stride` bytes each) the ink of a grey overlay `width` x `height` at page
 * pixel (x0, y0): a pixel is ink where it is below its place's threshold (paper, 255, is above
 * every threshold). The common case (pictures, MRZ lines) in a loop of its own.
 */
function inkGreyMono1(
  raw: Uint8Array,
  stride: number,
  x0: number,
  y0: number,
  width: number,
  height: number,
  grey: Uint8Array,
): void {
  for (let oy = 0, p = 0; oy < height; oy++) {
    const y = y0 + oy;
    const row = y * stride;
    const t = (y & 3) * 4;
    const t0 = BAYER4[t]!;
    const t1 = BAYER4[t + 1]!;
    const t2 = BAYER4[t + 2]!;
    const t3 = BAYER4[t + 3]!;
    for (let x = x0, end = x0 + width; x < end; x++, p++) {
      const lum = grey[p]!;
      if (lum === 255) continue;
      const threshold = x & 2 ? (x & 1 ? t3 : t2) : x & 1 ? t1 : t0;
      if (lum < threshold) raw[row + (x >> 3)]! |= 0x80 >> (x & 7);
    }
  }
}

/** The raw (uncompressed) page of a layered raster: the fixed layer's, darkened by each overlay. */
function layeredRaw(page: LayeredRaster, format: PageFormatName): Uint8Array {
  const { width, height, fixed, overlays } = page;
  if (fixed.width !== width || fixed.height !== height)
    throw new RangeError(
      `fixed layer is ${fixed.width} x ${fixed.height}, the page ${width} x ${height}`,
    );
  checkRgba('fixed layer', fixed);
  for (const [i, o] of overlays.entries()) {
    if (o.grey) {
      if (o.grey.length !== o.width * o.height)
        throw new RangeError(
          `overlay ${i} holds ${o.grey.length} bytes, ${o.width} x ${o.height} grey needs ${o.width * o.height}`,
        );
    } else checkRgba(`overlay ${i}`, o);
    const inside =
      Number.isInteger(o.x) &&
      Number.isInteger(o.y) &&
      o.x >= 0 &&
      o.y >= 0 &&
      o.x + o.width <= width &&
      o.y + o.height <= height;
    if (!inside)
      throw new RangeError(
        `overlay ${i} (${o.width} x ${o.height} at ${o.x}, ${o.y}) is not within the ${width} x ${height} page`,
      );
  }
  const raw = fixedEncoding(fixed, format).slice();
  const stride = Math.ceil(width / 8);
  for (const o of overlays) {
    const { rgba, grey } = o;
    if (grey && format === 'mono1') {
      inkGreyMono1(raw, stride, o.x, o.y, o.width, o.height, grey);
      continue;
    }
    const words =
      rgba && littleEndian && rgba.byteOffset % 4 === 0
        ? new Uint32Array(rgba.buffer, rgba.byteOffset, o.width * o.height)
        : undefined;
    for (let oy = 0, p = 0; oy < o.height; oy++) {
      const y = o.y + oy;
      for (let ox = 0; ox < o.width; ox++, p++) {
        if (words !== undefined && words[p] === 0xffffffff) continue;
        const lum = grey ? grey[p]! : luminance(rgba!, p * 4);
        if (lum === 255) continue;
        const x = o.x + ox;
        if (format === 'grey8') {
          const at = y * width + x;
          if (lum < raw[at]!) raw[at] = lum;
        } else if (lum < threshold(x, y)) raw[y * stride + (x >> 3)]! |= 0x80 >> (x & 7);
      }
    }
  }
  return raw;
}

function isLayered(r: RgbaRaster | LayeredRaster): r is LayeredRaster {
  return 'fixed' in r;
}

/**
 * Turns a raster into a page for the wire. `mono1` (the default of PrinterClient) dithers the
 * tones with a 4 x 4 ordered matrix: text and the MRZ stay solid, the portrait keeps its tones as
 * dot density, and the regular pattern compresses about ten times better than grey. A layered
 * raster gives the same page as its layers drawn into one RGBA raster: a pixel is ink where the
 * darker of its layers is below the threshold, that is where any layer is.
 */
export function encodePage(
  raster: RgbaRaster | LayeredRaster,
  format: PageFormatName = 'mono1',
): EncodedPage {
  const { width, height, dpi } = raster;
  checkSize(width, height, dpi);
  if (format !== 'grey8' && format !== 'mono1')
    throw new RangeError(`unknown page format "${String(format)}" (mono1, grey8)`);
  let raw: Uint8Array;
  if (isLayered(raster)) raw = layeredRaw(raster, format);
  else {
    checkRgba('page raster', raster);
    raw =
      format === 'grey8'
        ? greyOf(raster.rgba, width * height)
        : ditherMono1(raster.rgba, width, height);
  }
  const data = deflateSync(raw, { level: 6 });
  return {
    format: PAGE_FORMAT_CODES[format],
    width,
    height,
    dpi,
    length: data.length,
    sha256: createHash('sha256').update(data).digest(),
    data,
  };
}

export function beginPayload(h: PageHeader): Buffer {
  const b = Buffer.alloc(BEGIN_LENGTH);
  b[0] = PageOp.BEGIN;
  b[1] = h.format;
  b.writeUInt16BE(h.width, 2);
  b.writeUInt16BE(h.height, 4);
  b.writeUInt16BE(h.dpi, 6);
  b.writeUInt32BE(h.length, 8);
  h.sha256.copy(b, 12);
  return b;
}

export function dataPayload(pageId: number, offset: number, bytes: Buffer): Buffer {
  const h = Buffer.alloc(DATA_HEADER);
  h[0] = PageOp.DATA;
  h.writeUInt16BE(pageId, 1);
  h.writeUInt32BE(offset, 3);
  return Buffer.concat([h, bytes]);
}

export function commitPayload(pageId: number): Buffer {
  const b = Buffer.alloc(3);
  b[0] = PageOp.COMMIT;
  b.writeUInt16BE(pageId, 1);
  return b;
}

export type PageCommand =
  | { op: 'begin'; header: PageHeader }
  | { op: 'data'; pageId: number; offset: number; bytes: Buffer }
  | { op: 'commit'; pageId: number };

/** Parses a PRINT_DATA_PAGE payload; throws naming what is malformed. */
export function parsePageCommand(p: Buffer): PageCommand {
  switch (p[0]) {
    case PageOp.BEGIN: {
      if (p.length !== BEGIN_LENGTH)
        throw new Error(`BEGIN is ${BEGIN_LENGTH} bytes, got ${p.length}`);
      const header: PageHeader = {
        format: p[1]!,
        width: p.readUInt16BE(2),
        height: p.readUInt16BE(4),
        dpi: p.readUInt16BE(6),
        length: p.readUInt32BE(8),
        sha256: Buffer.from(p.subarray(12, 44)),
      };
      if (header.format !== PageFormat.MONO1 && header.format !== PageFormat.GREY8)
        throw new Error(`unknown page format 0x${header.format.toString(16)}`);
      if (header.length < 1 || header.length > MAX_PAGE_BYTES)
        throw new Error(`page length ${header.length} is outside 1..${MAX_PAGE_BYTES}`);
      return { op: 'begin', header };
    }
    case PageOp.DATA:
      if (p.length <= DATA_HEADER) throw new Error('DATA without page bytes');
      return {
        op: 'data',
        pageId: p.readUInt16BE(1),
        offset: p.readUInt32BE(3),
        bytes: p.subarray(DATA_HEADER),
      };
    case PageOp.COMMIT:
      if (p.length !== 3) throw new Error(`COMMIT is 3 bytes, got ${p.length}`);
      return { op: 'commit', pageId: p.readUInt16BE(1) };
    default:
      throw new Error(
        p.length
          ? `unknown PRINT_DATA_PAGE operation 0x${p[0]!.toString(16)} (01 begin, 02 data, 03 commit)`
          : 'empty PRINT_DATA_PAGE',
      );
  }
}

/**
 * Inflates a received page to 8-bit luminance (0 black, 255 paper), one byte a pixel. Throws
 * when the data is not a zlib stream or does not hold exactly width x height pixels.
 */
export function decodePage(h: PageHeader, data: Buffer): Uint8Array {
  const rawLength =
    h.format === PageFormat.MONO1 ? Math.ceil(h.width / 8) * h.height : h.width * h.height;
  let raw: Buffer;
  try {
    raw = inflateSync(data, { maxOutputLength: rawLength + 1 });
  } catch (e) {
    throw new Error(
      `page data does not inflate to a ${h.width} x ${h.height} page: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (raw.length !== rawLength)
    throw new Error(
      `page data holds ${raw.length} bytes, a ${h.width} x ${h.height} page needs ${rawLength}`,
    );
  if (h.format === PageFormat.GREY8) return new Uint8Array(raw);
  const grey = new Uint8Array(h.width * h.height).fill(255);
  const stride = Math.ceil(h.width / 8);
  for (let y = 0; y < h.height; y++)
    for (let x = 0; x < h.width; x++)
      if (raw[y * stride + (x >> 3)]! & (0x80 >> (x & 7))) grey[y * h.width + x] = 0;
  return grey;
}
