/**
 * Just enough of JPEG (ISO/IEC 10918-1) and JPEG 2000 (ISO/IEC 15444-1) to accept an image as
 * given: recognise the format and read its width, height and number of components. Images are
 * never re-encoded.
 */

export type ImageFormat = 'jpeg' | 'jpeg2000';

export interface ImageInfo {
  format: ImageFormat;
  width: number;
  height: number;
  components: number;
}

export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

const JP2_SIGNATURE = Buffer.from('0000000C6A5020200D0A870A', 'hex');

function jpegInfo(b: Buffer): ImageInfo {
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) throw new ImageError(`JPEG marker expected at byte ${p}`);
    const marker = b[p + 1]!;
    if (marker === 0xff) {
      p++;
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      p += 2;
      continue;
    }
    const len = b.readUInt16BE(p + 2);
    const isSof =
      marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (p + 10 > b.length) break;
      return {
        format: 'jpeg',
        height: b.readUInt16BE(p + 5),
        width: b.readUInt16BE(p + 7),
        components: b[p + 9]!,
      };
    }
    if (marker === 0xda || marker === 0xd9) break;
    p += 2 + len;
  }
  throw new ImageError('JPEG has no frame header (SOF): truncated or not a JPEG');
}

function sizInfo(b: Buffer, p: number): ImageInfo {
  // SIZ: FF51 Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz
  if (b.readUInt16BE(p) !== 0xff51 || p + 40 > b.length)
    throw new ImageError('JPEG 2000 codestream has no SIZ marker');
  const xsiz = b.readUInt32BE(p + 6);
  const ysiz = b.readUInt32BE(p + 10);
  const xo = b.readUInt32BE(p + 14);
  const yo = b.readUInt32BE(p + 18);
  return {
    format: 'jpeg2000',
    width: xsiz - xo,
    height: ysiz - yo,
    components: b.readUInt16BE(p + 38),
  };
}

function jp2Info(b: Buffer): ImageInfo {
  // Walk the top-level boxes to jp2h, then its ihdr box.
  const walk = (
    start: number,
    end: number,
    want: string,
  ): { start: number; end: number } | undefined => {
    let p = start;
    while (p + 8 <= end) {
      let len = b.readUInt32BE(p);
      const type = b.toString('latin1', p + 4, p + 8);
      let header = 8;
      if (len === 1) {
        if (p + 16 > end) return undefined;
        len = Number(b.readBigUInt64BE(p + 8));
        header = 16;
      } else if (len === 0) len = end - p;
      if (len < header || p + len > end) return undefined;
      if (type === want) return { start: p + header, end: p + len };
      p += len;
    }
    return undefined;
  };
  const jp2h = walk(0, b.length, 'jp2h');
  const ihdr = jp2h && walk(jp2h.start, jp2h.end, 'ihdr');
  if (!ihdr || ihdr.end - ihdr.start < 14)
    throw new ImageError('JP2 file has no image header box (ihdr)');
  return {
    format: 'jpeg2000',
    height: b.readUInt32BE(ihdr.start),
    width: b.readUInt32BE(ihdr.start + 4),
    components: b.readUInt16BE(ihdr.start + 8),
  };
}

/** Recognises a JPEG, a JP2 file or a raw JPEG 2000 codestream and reads its dimensions. */
export function imageInfo(data: Uint8Array): ImageInfo {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) return jpegInfo(b);
  if (b.length >= 12 && b.subarray(0, 12).equals(JP2_SIGNATURE)) return jp2Info(b);
  if (b.length >= 4 && b.readUInt16BE(0) === 0xff4f) return sizInfo(b, 2);
  throw new ImageError('image is neither JPEG nor JPEG 2000 (unknown signature)');
}
