/**
 * The pictures' resampling (`resampleGrey`, docs/data-page.md "Printing in layers"), against what
 * it is documented to do: enlarging, bilinear interpolation between the two nearest samples;
 * reducing, the average over each destination pixel's footprint (a fine pattern comes out as
 * its mean grey, not as whatever samples it happens to hit); paper outside the picture and its
 * edges weighted by the share of the pixel it covers.
 */
import { describe, expect, it } from 'vitest';
import { resampleGrey } from './data-page-raster.ts';

/** One page pixel per millimetre: the placement in mm is the placement in pixels. */
const grid = (x0: number, y0: number, w: number, h: number) => ({ x0, y0, w, h, sx: 1, sy: 1 });

describe('resampling a picture onto the page', () => {
  it('enlarges by interpolating between the two nearest samples', () => {
    // A horizontal ramp 0, 10, 20, ... 90 across 10 samples, 4 rows, drawn 5 times larger.
    const width = 10;
    const height = 4;
    const grey = Uint8Array.from({ length: width * height }, (_, p) => (p % width) * 10);
    const out = resampleGrey(
      { grey, width, height },
      { x: 0, y: 0, width: 50, height: 20 },
      grid(0, 0, 50, 20),
    );
    for (let x = 0; x < 50; x++) {
      // Pixel x's centre lies at (x + 0.5) / 5 samples; sample k's centre at k + 0.5.
      const u = (x + 0.5) / 5 - 0.5;
      const k = Math.min(width - 1, Math.max(0, u));
      const expected = Math.min(90, Math.max(0, k * 10));
      for (let y = 0; y < 20; y++)
        expect(Math.abs(out[y * 50 + x]! - expected)).toBeLessThanOrEqual(1);
    }
  });

  it('reduces by averaging: a one-sample checkerboard comes out as its mean grey', () => {
    const width = 90;
    const height = 90;
    const grey = Uint8Array.from({ length: width * height }, (_, p) =>
      ((p % width) + Math.floor(p / width)) % 2 ? 255 : 0,
    );
    for (const factor of [3, 4.5]) {
      const size = width / factor;
      const out = resampleGrey(
        { grey, width, height },
        { x: 0, y: 0, width: size, height: size },
        grid(0, 0, Math.floor(size), Math.floor(size)),
      );
      const n = Math.floor(size);
      for (let y = 1; y < n - 1; y++)
        for (let x = 1; x < n - 1; x++)
          expect(Math.abs(out[y * n + x]! - 127.5)).toBeLessThanOrEqual(16);
    }
  });

  it('leaves paper around the picture and weighs its edges by the share they cover', () => {
    const grey = new Uint8Array(4 * 4); // black
    // Placed from 2.25 to 6.25 across and 1.5 to 5.5 down, on a 9 x 8 overlay from (0, 0).
    const out = resampleGrey(
      { grey, width: 4, height: 4 },
      { x: 2.25, y: 1.5, width: 4, height: 4 },
      grid(0, 0, 9, 8),
    );
    const at = (x: number, y: number): number => out[y * 9 + x]!;
    expect(at(0, 0)).toBe(255);
    expect(at(8, 7)).toBe(255);
    expect(at(1, 3)).toBe(255);
    expect(at(3, 3)).toBe(0); // wholly inside
    expect(at(2, 3)).toBe(Math.round(255 - 255 * 0.75)); // three quarters covered across
    expect(at(6, 3)).toBe(Math.round(255 - 255 * 0.25)); // a quarter covered across
    expect(at(3, 1)).toBe(Math.round(255 - 255 * 0.5)); // half covered down
    expect(at(2, 1)).toBe(Math.round(255 - 255 * 0.75 * 0.5)); // the corner: both
  });
});
