import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  diversifyTransportKeys,
  transportKeyDerivationData,
  TRANSPORT_KEY_ROLES,
  type ChipIdentity,
} from './transport-keys.ts';

const master = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
const chip = { chipSerial: 'P1234567', chipUid: Buffer.from('04a1b2c3d4e580', 'hex') };

/** An independent CMAC: OpenSSL's, over the same derivation data. */
function opensslCmac(key: Buffer, data: Buffer): string {
  return execFileSync(
    'openssl',
    [
      'mac',
      '-cipher',
      `AES-${key.length * 8}-CBC`,
      '-macopt',
      `hexkey:${key.toString('hex')}`,
      'CMAC',
    ],
    { input: data, encoding: 'utf8' },
  )
    .trim()
    .toLowerCase();
}

/**
 * Chip identities over the whole documented range (docs/key-custody.md: serial 1-64 printable
 * ASCII bytes, UID 1-32 bytes), both ends and the usual 4, 7 and 10-byte UIDs drawn on purpose.
 * The derivation data then runs from 20 to 114 bytes: two to eight CMAC blocks.
 */
const serialOf = (n: number): fc.Arbitrary<string> =>
  fc.string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength: n,
    maxLength: n,
  });
const serialArb = fc
  .oneof(fc.constantFrom(1, 2, 63, 64), fc.integer({ min: 1, max: 64 }))
  .chain(serialOf);
const uidArb = fc
  .oneof(fc.constantFrom(1, 4, 7, 10, 31, 32), fc.integer({ min: 1, max: 32 }))
  .chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
const chipArb: fc.Arbitrary<ChipIdentity> = fc.record({ chipSerial: serialArb, chipUid: uidArb });

const sameChip = (a: ChipIdentity, b: ChipIdentity): boolean =>
  a.chipSerial === b.chipSerial && Buffer.from(a.chipUid).equals(Buffer.from(b.chipUid));

/**
 * Two chip identities, mostly near each other (independent random ones differ everywhere and
 * prove little): one character or byte changed anywhere, the last included; one added or
 * dropped at the end; or the same bytes serial || UID split at another point, which only the
 * length prefixes tell apart.
 */
const chipPair: fc.Arbitrary<[ChipIdentity, ChipIdentity]> = chipArb.chain((a) => {
  const s = a.chipSerial;
  const u = Buffer.from(a.chipUid);
  const variants: fc.Arbitrary<ChipIdentity>[] = [
    chipArb,
    fc
      .tuple(fc.nat({ max: s.length - 1 }), serialOf(1))
      .map(([i, c]) => ({ chipSerial: s.slice(0, i) + c + s.slice(i + 1), chipUid: u })),
    fc.tuple(fc.nat({ max: u.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
      const v = Buffer.from(u);
      v[i] = v[i]! ^ x;
      return { chipSerial: s, chipUid: v };
    }),
  ];
  if (s.length < 64) variants.push(serialOf(1).map((c) => ({ chipSerial: s + c, chipUid: u })));
  if (s.length > 1) variants.push(fc.constant({ chipSerial: s.slice(0, -1), chipUid: u }));
  if (u.length < 32)
    variants.push(
      fc
        .integer({ min: 0, max: 255 })
        .map((x) => ({ chipSerial: s, chipUid: Buffer.concat([u, Buffer.from([x])]) })),
    );
  if (u.length > 1) variants.push(fc.constant({ chipSerial: s, chipUid: u.subarray(0, -1) }));
  // The last k characters of the serial moved to the front of the UID: same bytes in a row.
  const movable = Math.min(s.length - 1, 32 - u.length);
  if (movable >= 1)
    variants.push(
      fc.integer({ min: 1, max: movable }).map((k) => ({
        chipSerial: s.slice(0, -k),
        chipUid: Buffer.concat([Buffer.from(s.slice(-k), 'ascii'), u]),
      })),
    );
  return fc.tuple(fc.constant(a), fc.oneof(...variants));
});

describe('transportKeyDerivationData', () => {
  it('lays out counter, label, separator, length-prefixed serial and UID, and L (docs/key-custody.md)', () => {
    // 01 | "PERSO-TK-ENC" | 00 | 08 "P1234567" | 07 04a1b2c3d4e580 | 0080
    expect(transportKeyDerivationData('enc', chip).toString('hex')).toBe(
      '01' +
        '504552534f2d544b2d454e43' +
        '00' +
        '08' +
        '5031323334353637' +
        '07' +
        '04a1b2c3d4e580' +
        '0080',
    );
    expect(transportKeyDerivationData('mac', chip).subarray(1, 13).toString('ascii')).toBe(
      'PERSO-TK-MAC',
    );
    expect(transportKeyDerivationData('dek', chip).subarray(1, 13).toString('ascii')).toBe(
      'PERSO-TK-DEK',
    );
  });

  it('never gives two different chip identities the same input (length prefixes)', () => {
    const a = transportKeyDerivationData('enc', {
      chipSerial: 'AB',
      chipUid: Buffer.from('4344', 'hex'),
    });
    const b = transportKeyDerivationData('enc', {
      chipSerial: 'ABC',
      chipUid: Buffer.from('44', 'hex'),
    });
    expect(a.equals(b)).toBe(false);
  });

  it('lays out any serial and UID of the documented lengths as docs/key-custody.md says', () => {
    fc.assert(
      fc.property(chipArb, fc.constantFrom(...TRANSPORT_KEY_ROLES), (c, role) => {
        const label = { enc: 'PERSO-TK-ENC', mac: 'PERSO-TK-MAC', dek: 'PERSO-TK-DEK' }[role];
        // 01 | Label | 00 | [len(chipSerial)]_1 chipSerial | [len(chipUid)]_1 chipUid | 00 80
        const expected = Buffer.from([
          0x01,
          ...Buffer.from(label, 'ascii'),
          0x00,
          c.chipSerial.length,
          ...Buffer.from(c.chipSerial, 'ascii'),
          c.chipUid.length,
          ...c.chipUid,
          0x00,
          0x80,
        ]);
        expect(transportKeyDerivationData(role, c).toString('hex')).toBe(expected.toString('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    [{ chipSerial: '', chipUid: Buffer.from('01', 'hex') }, /chip serial is empty/],
    [{ chipSerial: 'A B', chipUid: Buffer.from('01', 'hex') }, /printable ASCII/],
    [{ chipSerial: 'Ñ1', chipUid: Buffer.from('01', 'hex') }, /printable ASCII/],
    [{ chipSerial: 'X'.repeat(65), chipUid: Buffer.from('01', 'hex') }, /at most 64/],
    [{ chipSerial: 'P1', chipUid: Buffer.alloc(0) }, /chip UID is empty/],
    [{ chipSerial: 'P1', chipUid: Buffer.alloc(33) }, /at most 32/],
  ])('rejects a bad chip identity %#', (bad, message) => {
    expect(() => transportKeyDerivationData('enc', bad)).toThrow(message);
  });
});

describe('diversifyTransportKeys', () => {
  it('is AES-CMAC(master, derivation data) per key, as OpenSSL computes it', () => {
    const keys = diversifyTransportKeys(master, chip);
    for (const role of TRANSPORT_KEY_ROLES) {
      expect(keys[role]).toHaveLength(16);
      expect(keys[role].toString('hex')).toBe(
        opensslCmac(master, transportKeyDerivationData(role, chip)),
      );
    }
    expect(new Set(TRANSPORT_KEY_ROLES.map((r) => keys[r].toString('hex'))).size).toBe(3);
  });

  it('reproduces the worked example of docs/key-custody.md (values from OpenSSL)', () => {
    const keys = diversifyTransportKeys(master, chip);
    expect(keys.enc.toString('hex')).toBe('f1ed16ea8e9188e57f1d9925e2a27689');
    expect(keys.mac.toString('hex')).toBe('ba51b52573b3d55fac6b196aeddf96c0');
    expect(keys.dek.toString('hex')).toBe('ee2df03ddd76eabda20afcb2c4cb3ca5');
  });

  it('gives different chips and different masters unrelated keys', () => {
    fc.assert(
      fc.property(chipPair, ([a, b]) => {
        fc.pre(!sameChip(a, b));
        // The length prefixes make the encoding unambiguous (docs/key-custody.md) ...
        for (const role of TRANSPORT_KEY_ROLES)
          expect(
            transportKeyDerivationData(role, a).equals(transportKeyDerivationData(role, b)),
          ).toBe(false);
        // ... so two different chips never share a key.
        const k1 = diversifyTransportKeys(master, a);
        const k2 = diversifyTransportKeys(master, b);
        for (const role of TRANSPORT_KEY_ROLES) expect(k1[role].equals(k2[role])).toBe(false);
      }),
      { numRuns: 300 },
    );
    const other = Buffer.from(master);
    other[0] = other[0]! ^ 1;
    expect(
      diversifyTransportKeys(other, chip).enc.equals(diversifyTransportKeys(master, chip).enc),
    ).toBe(false);
  });

  it('accepts AES-128, -192 and -256 masters and rejects other lengths', () => {
    for (const n of [16, 24, 32])
      expect(diversifyTransportKeys(Buffer.alloc(n, 7), chip).mac).toHaveLength(16);
    expect(() => diversifyTransportKeys(Buffer.alloc(20), chip)).toThrow(
      /16, 24 or 32 bytes, got 20/,
    );
  });
});
