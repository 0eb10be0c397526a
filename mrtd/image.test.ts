import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageError, imageInfo } from './image.ts';
import { dg2, faceImage } from './lds.ts';

const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');

describe('images accepted as given', () => {
  it('reads JPEG and JPEG 2000 dimensions', () => {
    expect(imageInfo(readFileSync(join(fixtures, 'face.jpg')))).toEqual({
      format: 'jpeg',
      width: 240,
      height: 320,
      components: 3,
    });
    expect(imageInfo(readFileSync(join(fixtures, 'signature.jpg')))).toMatchObject({
      format: 'jpeg',
      width: 300,
      height: 80,
      components: 1,
    });
    expect(imageInfo(readFileSync(join(fixtures, 'face.jp2')))).toEqual({
      format: 'jpeg2000',
      width: 120,
      height: 160,
      components: 3,
    });
  });

  it('puts a JPEG 2000 face in the 19794-5 record unchanged', () => {
    const jp2 = readFileSync(join(fixtures, 'face.jp2'));
    const [f] = dg2.decode(dg2.encode([faceImage(jp2, 'M')]));
    expect(f).toMatchObject({
      format: 'jpeg2000',
      width: 120,
      height: 160,
      gender: 'M',
      faceImageType: 1,
    });
    expect(f!.image.equals(jp2)).toBe(true);
  });

  it('refuses what is not an image, or a truncated one', () => {
    expect(() => imageInfo(Buffer.from('GIF89a....'))).toThrow(ImageError);
    const jpg = readFileSync(join(fixtures, 'face.jpg'));
    expect(() => imageInfo(jpg.subarray(0, 30))).toThrow(/no frame header/);
  });
});
