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

describe('pre-personalization record', () => {
  it('encodes the documented TLV layout', () => {
    const bytes = encodePrePersoRecord(sample);
    expect(bytes[0]).toBe(0x70);
    expect(bytes.subarray(2, 4)).toEqual(Buffer.from([0xc1, 9]));
    expect(bytes.subarray(4, 13).toString('ascii')).toBe('PA0000123');
    expect(bytes.subarray(-3)).toEqual(Buffer.from([0xc6, 1, 1]));
  });

  it('round-trips any valid record', () => {
    const field = fc.stringMatching(/^[\x21-\x7e]{1,64}$/);
    fc.assert(
      fc.property(
        fc.record({
          bookletSerial: field,
          chipSerial: field,
          batchId: field,
          agencyCode: field,
          chipProfile: field,
          keyVersion: fc.integer({ min: 0, max: 255 }),
        }),
        (r) => {
          expect(decodePrePersoRecord(encodePrePersoRecord(r))).toEqual(r);
        },
      ),
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
      fc.property(fc.uint8Array({ maxLength: 120 }), (junk) => {
        try {
          decodePrePersoRecord(junk);
        } catch (e) {
          expect(e).toBeInstanceOf(PrePersoRecordError);
        }
      }),
    );
  });
});
