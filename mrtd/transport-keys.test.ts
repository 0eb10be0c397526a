import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  diversifyTransportKeys,
  transportKeyDerivationData,
  TRANSPORT_KEY_ROLES,
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
      fc.property(
        fc.stringMatching(/^[A-Z0-9]{1,12}$/),
        fc.uint8Array({ minLength: 4, maxLength: 10 }),
        fc.stringMatching(/^[A-Z0-9]{1,12}$/),
        fc.uint8Array({ minLength: 4, maxLength: 10 }),
        (s1, u1, s2, u2) => {
          fc.pre(s1 !== s2 || !Buffer.from(u1).equals(Buffer.from(u2)));
          const k1 = diversifyTransportKeys(master, { chipSerial: s1, chipUid: u1 });
          const k2 = diversifyTransportKeys(master, { chipSerial: s2, chipUid: u2 });
          for (const role of TRANSPORT_KEY_ROLES) expect(k1[role].equals(k2[role])).toBe(false);
        },
      ),
      { numRuns: 200 },
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
