import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PrePersoRecordError,
  decodePrePersoRecord,
  encodePrePersoRecord,
  type PrePersoRecord,
} from './preperso-record.ts';

const sample: PrePersoRecord = {
  bookletSerial: 'PA0000123',
  chipSerial: 'C90000123',
  batchId: 'B2026-11',
  agencyCode: 'PER-MIGRACIONES',
  chipProfile: 'PER-MIG-EMRTD-V3',
  keyVersion: 1,
};

/** The five text fields in the documented order (docs/chip.md), with their tags. */
const FIELDS = [
  [0xc1, 'bookletSerial'],
  [0xc2, 'chipSerial'],
  [0xc3, 'batchId'],
  [0xc4, 'agencyCode'],
  [0xc5, 'chipProfile'],
] as const;

/** The BER-TLV length field of ISO/IEC 7816-4 (5.2): one byte below 128, else 81 xx, 82 xx xx. */
const berLength = (n: number): number[] =>
  n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
const berTlv = (tag: number, value: number[]): number[] => [
  tag,
  ...berLength(value.length),
  ...value,
];

/** The record as docs/chip.md lays it out: 70 { C1 .. C5 ASCII, C6 one byte }. */
function modelEncoding(r: PrePersoRecord): Buffer {
  return Buffer.from(
    berTlv(0x70, [
      ...FIELDS.flatMap(([tag, name]) => berTlv(tag, [...Buffer.from(r[name], 'ascii')])),
      ...berTlv(0xc6, [r.keyVersion]),
    ]),
  );
}

const printable = (n: number): fc.Arbitrary<string> =>
  fc.string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength: n,
    maxLength: n,
  });

/** Five field lengths (1-64 each) that add up to `total`, shared out by `weights`. */
function split(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0) || 1;
  const lens = weights.map((w) => 1 + Math.min(63, Math.floor(((total - 5) * w) / sum)));
  let rest = total - lens.reduce((a, b) => a + b, 0);
  for (let i = 0; rest > 0; i = (i + 1) % lens.length)
    if (lens[i]! < 64) {
      lens[i]!++;
      rest--;
    }
  return lens;
}

/**
 * Valid records whose template length (13 bytes of tags, lengths and key version, plus the
 * five fields) takes each BER length form: under 128 one byte, 128-255 `81 xx`, 256-333
 * `82 xx xx`, the boundaries 127/128 and 255/256 drawn on purpose, and fields of 1 and 64
 * characters. Drawn with fast-check's default size the fields stay under ten characters and
 * the template under 70 bytes, always the one-byte form.
 */
const recordArb: fc.Arbitrary<PrePersoRecord> = fc
  .oneof(
    fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 5, maxLength: 5, size: 'max' }),
    fc
      .tuple(
        fc.constantFrom(127, 128, 129, 255, 256, 257),
        fc.array(fc.nat({ max: 63 }), { minLength: 5, maxLength: 5 }),
      )
      .map(([template, weights]) => split(template - 13, weights)),
    fc.constantFrom([1, 1, 1, 1, 1], [64, 64, 64, 64, 64]),
  )
  .chain((lens) =>
    fc.record({
      bookletSerial: printable(lens[0]!),
      chipSerial: printable(lens[1]!),
      batchId: printable(lens[2]!),
      agencyCode: printable(lens[3]!),
      chipProfile: printable(lens[4]!),
      keyVersion: fc.oneof(fc.constantFrom(0, 255), fc.integer({ min: 0, max: 255 })),
    }),
  );

/**
 * Bytes that are mostly not a record: random junk (which rarely even starts with 70), and
 * valid records damaged in one place, so the decoder's checks past the template tag are
 * reached: cut short, a byte replaced (by a structural value or any), inserted or deleted,
 * a field duplicated or dropped.
 */
const malformed: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 120 }), weight: 1 },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        recordArb,
        fc.constantFrom('cut', 'set', 'insert', 'delete', 'duplicate', 'drop'),
        fc.nat(),
        fc.oneof(
          fc.constantFrom(0x00, 0x20, 0x7f, 0x80, 0x81, 0x82, 0xff, 0x70, 0xc1, 0xc6),
          fc.integer({ min: 0, max: 255 }),
        ),
      )
      .map(([r, kind, at, v]) => {
        const b = encodePrePersoRecord(r);
        const i = at % b.length;
        if (kind === 'cut') return b.subarray(0, i);
        if (kind === 'set')
          return Buffer.concat([b.subarray(0, i), Buffer.from([v]), b.subarray(i + 1)]);
        if (kind === 'insert')
          return Buffer.concat([b.subarray(0, i), Buffer.from([v]), b.subarray(i)]);
        if (kind === 'delete') return Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
        // Rebuild the template with one child twice or missing.
        const children = FIELDS.map(([tag, name]) =>
          Buffer.from(berTlv(tag, [...Buffer.from(r[name], 'ascii')])),
        );
        children.push(Buffer.from(berTlv(0xc6, [r.keyVersion])));
        const k = at % children.length;
        if (kind === 'duplicate') children.splice(k, 0, children[k]!);
        else children.splice(k, 1);
        const value = Buffer.concat(children);
        return Buffer.from([0x70, ...berLength(value.length), ...value]);
      }),
  },
);

describe('pre-personalization record', () => {
  it('encodes the documented TLV layout', () => {
    const bytes = encodePrePersoRecord(sample);
    expect(bytes[0]).toBe(0x70);
    expect(bytes.subarray(2, 4)).toEqual(Buffer.from([0xc1, 9]));
    expect(bytes.subarray(4, 13).toString('ascii')).toBe('PA0000123');
    expect(bytes.subarray(-3)).toEqual(Buffer.from([0xc6, 1, 1]));
  });

  it('round-trips any valid record, encoded as the documented TLV layout', () => {
    fc.assert(
      fc.property(recordArb, (r) => {
        const bytes = encodePrePersoRecord(r);
        expect(bytes.toString('hex')).toBe(modelEncoding(r).toString('hex'));
        expect(decodePrePersoRecord(bytes)).toEqual(r);
      }),
      { numRuns: 200 },
    );
  });

  it('names what is wrong with a malformed record and never returns a partial one', () => {
    const good = encodePrePersoRecord(sample);
    expect(() => decodePrePersoRecord(good.subarray(0, good.length - 2))).toThrow(
      PrePersoRecordError,
    );
    expect(() => decodePrePersoRecord(Buffer.from('7100', 'hex'))).toThrow(/template tag is 71/);
    const noAgency = Buffer.from(good);
    noAgency[noAgency.indexOf(0xc4)] = 0xc9;
    expect(() => decodePrePersoRecord(noAgency)).toThrow(/agencyCode is missing/);
    fc.assert(
      fc.property(malformed, (bytes) => {
        let r: PrePersoRecord;
        try {
          r = decodePrePersoRecord(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(PrePersoRecordError);
          return;
        }
        // Whatever is returned is a whole record by the documented rules, not a partial one.
        for (const [, name] of FIELDS) expect(r[name]).toMatch(/^[\x21-\x7e]{1,64}$/);
        expect(Number.isInteger(r.keyVersion) && r.keyVersion >= 0 && r.keyVersion <= 255).toBe(
          true,
        );
      }),
      { numRuns: 300 },
    );
  });
});
