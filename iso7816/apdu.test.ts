import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  apduCase,
  atsSupportsExtendedLength,
  decodeApdu,
  decodeResponse,
  encodeApdu,
  type Apdu,
} from './apdu.ts';

/**
 * Command data of every length class of ISO/IEC 7816-4 (5.1): none, short (Lc 1-255), extended
 * (256-65535), the boundaries 255/256/257 and the largest, 65535, drawn on purpose. Drawn
 * plainly with fast-check's default size, data never reached 255 bytes: never an extended Lc.
 */
const dataArb: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 1 },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom(1, 254, 255, 256, 257, 65534, 65535),
        fc.integer({ min: 256, max: 2000 }),
      )
      .chain((n) => fc.uint8Array({ minLength: n, maxLength: n }))
      .map((a) => Buffer.from(a)),
  },
);
/**
 * Ne: none, short (1-256, 256 written 00), extended (257-65536, 65536 written 0000), the
 * boundaries on purpose: drawn from 1-65536 plainly, 256 and 257 never came up, 65536 rarely.
 */
const leArb: fc.Arbitrary<number | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(1, 255, 256, 257, 65535, 65536),
  fc.integer({ min: 1, max: 256 }),
  fc.integer({ min: 257, max: 65536 }),
);

/** The command APDU as ISO/IEC 7816-4 (5.1) lays it out, short or extended. */
function modelApdu(a: Apdu, extended: boolean): Buffer {
  const data = a.data ?? Buffer.alloc(0);
  const n = data.length;
  const parts: Buffer[] = [Buffer.from([a.cla, a.ins, a.p1, a.p2])];
  if (!extended) {
    if (n) parts.push(Buffer.from([n]), data);
    if (a.le !== undefined) parts.push(Buffer.from([a.le === 256 ? 0x00 : a.le]));
    return Buffer.concat(parts);
  }
  const le = a.le === 65536 ? 0 : a.le;
  if (n) parts.push(Buffer.from([0x00, n >> 8, n & 0xff]), data);
  // Le is 3 bytes (00 + 2) without data, 2 bytes after an extended Lc.
  if (le !== undefined) parts.push(Buffer.from([...(n ? [] : [0x00]), le >> 8, le & 0xff]));
  return Buffer.concat(parts);
}

describe('APDU encoding (ISO 7816-4)', () => {
  it('encodes the four cases, short form', () => {
    const h = { cla: 0, ins: 0xb0, p1: 1, p2: 2 };
    expect(encodeApdu(h).toString('hex')).toBe('00b00102');
    expect(encodeApdu({ ...h, le: 256 }).toString('hex')).toBe('00b0010200');
    expect(encodeApdu({ ...h, data: Buffer.from([9, 8]) }).toString('hex')).toBe('00b00102020908');
    expect(encodeApdu({ ...h, data: Buffer.from([9]), le: 16 }).toString('hex')).toBe(
      '00b0010201' + '09' + '10',
    );
  });

  it('encodes the extended form', () => {
    const h = { cla: 0, ins: 0xd6, p1: 0, p2: 0 };
    expect(encodeApdu({ ...h, le: 65536 }).toString('hex')).toBe('00d60000000000');
    const e3 = encodeApdu({ ...h, data: Buffer.alloc(300) });
    expect(e3.subarray(4, 7).toString('hex')).toBe('00012c');
    expect(e3.length).toBe(307);
    const e4 = encodeApdu({ ...h, data: Buffer.alloc(2), le: 1000 }, true);
    expect(e4.toString('hex')).toBe('00d60000' + '000002' + '0000' + '03e8');
  });

  it('refuses what does not fit and non-byte header fields', () => {
    expect(() =>
      encodeApdu({ cla: 0, ins: 0, p1: 0, p2: 0, data: Buffer.alloc(256) }, false),
    ).toThrow(/short/);
    expect(() => encodeApdu({ cla: 0x100, ins: 0, p1: 0, p2: 0 })).toThrow(/CLA/);
    expect(() => encodeApdu({ cla: 0, ins: 0, p1: 0, p2: 0, le: 0 })).toThrow(/Le/);
  });

  it('decodes what it encodes, any case, short or extended, in the bytes of ISO 7816-4', () => {
    fc.assert(
      fc.property(
        fc.record({
          cla: fc.integer({ min: 0, max: 255 }),
          ins: fc.integer({ min: 0, max: 255 }),
          p1: fc.integer({ min: 0, max: 255 }),
          p2: fc.integer({ min: 0, max: 255 }),
        }),
        dataArb,
        leArb,
        fc.boolean(),
        (h, data, le, forceExt) => {
          const a: Apdu = { ...h };
          if (data) a.data = data;
          if (le !== undefined) a.le = le;
          const ext = forceExt || (data?.length ?? 0) > 255 || (le ?? 0) > 256;
          const bytes = encodeApdu(a, ext);
          expect(bytes.toString('hex')).toBe(modelApdu(a, ext).toString('hex'));
          // Left to choose, the encoder takes the short form whenever it fits.
          if (!forceExt) expect(encodeApdu(a).toString('hex')).toBe(bytes.toString('hex'));
          const d = decodeApdu(bytes);
          expect(apduCase(d)).toBe(apduCase(a));
          // (equals, not toEqual: a deep comparison of 64 KiB byte by byte is slow)
          expect(d.data.equals(a.data ?? Buffer.alloc(0))).toBe(true);
          expect(d.le).toBe(a.le);
          if (apduCase(a) !== 1) expect(d.extended).toBe(ext);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects malformed length fields', () => {
    expect(() => decodeApdu(Buffer.from('00d6000005aabb', 'hex'))).toThrow(/length/);
    expect(() => decodeApdu(Buffer.from('00d6', 'hex'))).toThrow(/4 bytes/);
    expect(() => decodeResponse(Buffer.from([0x90]))).toThrow(/status word/);
  });

  it('round-trips the encodings chips send, and names a wrong Lc', () => {
    for (const hex of [
      '00a4020c',
      '00b0000004',
      '00a4020c02011e',
      '00a4040c07a000000247100100',
      '00b00000000800',
      '00d60000000100' + 'ab'.repeat(256),
    ]) {
      const c = decodeApdu(Buffer.from(hex, 'hex'));
      expect(encodeApdu(c).toString('hex')).toBe(hex);
    }
    expect(decodeApdu(Buffer.from('00b00000000800', 'hex')).le).toBe(2048);
    expect(() => decodeApdu(Buffer.from('00a4020c05011e', 'hex'))).toThrow(/Lc says 5/);
  });

  it('reads extended-length support from the ATS card capabilities', () => {
    expect(
      atsSupportsExtendedLength(Buffer.from('0a78779402807300004 0'.replace(/ /g, ''), 'hex')),
    ).toBe(true);
    expect(atsSupportsExtendedLength(Buffer.from('0a787794028073000000', 'hex'))).toBe(false);
    expect(atsSupportsExtendedLength(Buffer.from('0578779402', 'hex'))).toBe(false);
    expect(atsSupportsExtendedLength(Buffer.alloc(0))).toBe(false);
  });
});
