/**
 * The MONO1 page format against a model written from docs/protocol.md ("Formats"): 1 bit a
 * pixel, 1 = ink, rows padded to a whole byte, most significant bit first; ink where the
 * luminance (0.299 R + 0.587 G + 0.114 B, in the 77/150/29 weights of the printer's camera) is
 * below the 4 x 4 Bayer threshold of the pixel's place ((v + 0.5) * 16 for the Bayer index v).
 */
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodePage, type LayeredRaster } from './page-transfer.ts';

const BAYER = [
  [0, 8, 2, 10],
  [12, 4, 14, 6],
  [3, 11, 1, 9],
  [15, 7, 13, 5],
];

function modelMono1(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const stride = Math.ceil(width / 8);
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const lum = Math.floor((77 * rgba[i]! + 150 * rgba[i + 1]! + 29 * rgba[i + 2]!) / 256);
      const threshold = (BAYER[y % 4]![x % 4]! + 0.5) * 16;
      if (lum < threshold) out[y * stride + Math.floor(x / 8)]! |= 1 << (7 - (x % 8));
    }
  return out;
}

/** A raster of paper with runs of ink, greys and colour, from a seeded generator. */
function raster(width: number, height: number, seed: number, offset = 0): Uint8Array {
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
  const buf = new Uint8Array(offset + width * height * 4);
  const px = buf.subarray(offset);
  for (let p = 0; p < width * height; p++) {
    const kind = next() % 4;
    const v = kind === 0 ? next() : kind === 1 ? 0 : 255;
    px[p * 4] = kind === 3 ? next() : v;
    px[p * 4 + 1] = kind === 3 ? next() : v;
    px[p * 4 + 2] = kind === 3 ? next() : v;
    px[p * 4 + 3] = 255;
  }
  return px;
}

describe('MONO1 dithering', () => {
  it.each([
    [1476, 20, 1],
    [13, 9, 2], // a width that is not a whole number of bytes
    [7, 5, 3],
    [64, 64, 4],
  ])('matches the documented rule on a %i x %i raster (seed %i)', (width, height, seed) => {
    const rgba = raster(width, height, seed);
    const page = encodePage({ width, height, dpi: 300, rgba });
    expect(new Uint8Array(inflateSync(page.data))).toEqual(modelMono1(rgba, width, height));
  });

  it('matches it on a raster that does not start at a 4-byte boundary of its buffer', () => {
    const rgba = raster(33, 11, 5, 1);
    expect(rgba.byteOffset % 4).toBe(1);
    const page = encodePage({ width: 33, height: 11, dpi: 300, rgba });
    expect(new Uint8Array(inflateSync(page.data))).toEqual(modelMono1(rgba, 33, 11));
  });

  it('leaves paper blank and inks black, whatever the alpha of a white pixel', () => {
    const rgba = new Uint8Array(16 * 4 * 4).fill(255);
    rgba.fill(0, 0, 4 * 4); // the first four pixels black (alpha 0 too)
    rgba[4 * 4 + 3] = 254; // a white pixel that is not opaque is still paper
    const page = encodePage({ width: 16, height: 4, dpi: 300, rgba });
    const bits = new Uint8Array(inflateSync(page.data));
    expect([...bits]).toEqual([0xf0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

/** docs/protocol.md and LayeredRaster: a pixel of a layered page is the darker of its layers. */
function modelLuminance(rgba: Uint8Array, p: number): number {
  return Math.floor((77 * rgba[p * 4]! + 150 * rgba[p * 4 + 1]! + 29 * rgba[p * 4 + 2]!) / 256);
}

/** A grey overlay's pixels as RGBA: each grey level v is (v, v, v, opaque). */
function rgbaOf(o: LayeredRaster['overlays'][number]): Uint8Array {
  if (o.rgba) return o.rgba;
  const out = new Uint8Array(o.grey.length * 4);
  o.grey.forEach((v, p) => out.set([v, v, v, 255], p * 4));
  return out;
}

function flattened(page: LayeredRaster): Uint8Array {
  const out = page.fixed.rgba.slice();
  for (const overlay of page.overlays) {
    const o = { ...overlay, rgba: rgbaOf(overlay) };
    for (let y = 0; y < o.height; y++)
      for (let x = 0; x < o.width; x++) {
        const from = y * o.width + x;
        const to = (o.y + y) * page.width + o.x + x;
        if (modelLuminance(o.rgba, from) < modelLuminance(out, to))
          out.set(o.rgba.subarray(from * 4, from * 4 + 4), to * 4);
      }
  }
  return out;
}

function modelGrey8(rgba: Uint8Array, width: number, height: number): Uint8Array {
  return Uint8Array.from({ length: width * height }, (_, p) => modelLuminance(rgba, p));
}

describe('a layered page', () => {
  const width = 61;
  const height = 23;
  const layered = (seed: number): LayeredRaster => ({
    width,
    height,
    dpi: 300,
    fixed: { width, height, dpi: 300, rgba: raster(width, height, seed) },
    overlays: [
      { x: 0, y: 0, width: 9, height: 5, rgba: raster(9, 5, seed + 1) },
      { x: 13, y: 6, width: 30, height: 11, rgba: raster(30, 11, seed + 2, 1) },
      { x: 40, y: 10, width: 21, height: 13, rgba: raster(21, 13, seed + 3) }, // overlaps the last
      { x: 60, y: 22, width: 1, height: 1, rgba: new Uint8Array([0, 0, 0, 255]) },
      // Grey overlays (a byte a pixel), one over an RGBA one.
      { x: 2, y: 12, width: 17, height: 9, grey: raster(17, 9, seed + 4).subarray(0, 17 * 9) },
      { x: 35, y: 3, width: 12, height: 12, grey: raster(12, 12, seed + 5).subarray(0, 144) },
    ],
  });

  it.each([1, 2, 3])('is the page of its layers flattened, in both formats (seed %i)', (seed) => {
    const page = layered(seed * 10);
    const flat = flattened(page);
    const mono = encodePage(page, 'mono1');
    expect(new Uint8Array(inflateSync(mono.data))).toEqual(modelMono1(flat, width, height));
    expect(mono.sha256).toEqual(encodePage({ width, height, dpi: 300, rgba: flat }).sha256);
    const grey = encodePage(page, 'grey8');
    expect(new Uint8Array(inflateSync(grey.data))).toEqual(modelGrey8(flat, width, height));
  });

  it('never writes its fixed layer, shared by the pages after it', () => {
    const page = layered(40);
    const before = page.fixed.rgba.slice();
    const first = encodePage(page, 'mono1');
    encodePage(page, 'grey8');
    expect(page.fixed.rgba).toEqual(before);
    // The same fixed layer under other overlays: nothing of the first page's overlays remains.
    const other = { ...page, overlays: [] };
    expect(new Uint8Array(inflateSync(encodePage(other, 'mono1').data))).toEqual(
      modelMono1(before, width, height),
    );
    expect(encodePage(page, 'mono1').sha256).toEqual(first.sha256);
  });

  it('refuses overlays off the page and a fixed layer of another size, naming them', () => {
    const page = layered(50);
    const off = { ...page.overlays[3]!, x: 61 };
    expect(() => encodePage({ ...page, overlays: [page.overlays[0]!, off] })).toThrow(
      /overlay 1 \(1 x 1 at 61, 22\) is not within the 61 x 23 page/,
    );
    const short = { x: 0, y: 0, width: 9, height: 5, rgba: new Uint8Array(10) };
    expect(() => encodePage({ ...page, overlays: [short] })).toThrow(/overlay 0 holds 10 bytes/);
    const shortGrey = { x: 0, y: 0, width: 9, height: 5, grey: new Uint8Array(44) };
    expect(() => encodePage({ ...page, overlays: [page.overlays[0]!, shortGrey] })).toThrow(
      /overlay 1 holds 44 bytes, 9 x 5 grey needs 45/,
    );
    expect(() => encodePage({ ...page, width: 62 })).toThrow(
      /fixed layer is 61 x 23, the page 62 x 23/,
    );
  });
});
