import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { retailMac, tdesDecrypt, tdesEncrypt } from './des.ts';

/** 3DES-CBC (two keys) with a fresh OpenSSL context: what every message must equal. */
function reference(decrypt: boolean, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const k = Buffer.concat([key, key.subarray(0, 8)]);
  const c = decrypt
    ? createDecipheriv('des-ede3-cbc', k, iv)
    : createCipheriv('des-ede3-cbc', k, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

describe('3DES with a context kept per key', () => {
  it('gives each message the CBC of its own IV, however messages follow one another', () => {
    const key = randomBytes(16);
    for (let i = 0; i < 200; i++) {
      const data = randomBytes(8 * (1 + (i % 37)));
      const iv = i % 3 === 0 ? Buffer.alloc(8) : randomBytes(8);
      const enc = tdesEncrypt(key, data, iv);
      expect(enc).toEqual(reference(false, key, iv, data));
      expect(tdesDecrypt(key, enc, iv)).toEqual(data);
      // Decrypting something else between: the next message is not affected.
      const other = randomBytes(16);
      expect(tdesDecrypt(key, other)).toEqual(reference(true, key, Buffer.alloc(8), other));
      retailMac(key, data);
    }
  });

  it('computes the retail MAC (ISO/IEC 9797-1 algorithm 3) the same every time', () => {
    const key = randomBytes(16);
    const msg = randomBytes(45);
    // Algorithm 3 by its definition: single DES CBC with K1, then D_K2 and E_K1 on the last.
    const padded = Buffer.concat([msg, Buffer.from([0x80]), Buffer.alloc(2)]);
    const k1 = key.subarray(0, 8);
    const k2 = key.subarray(8);
    const zero = Buffer.alloc(8);
    const h = reference(false, Buffer.concat([k1, k1]), zero, padded).subarray(-8);
    const expected = reference(
      false,
      Buffer.concat([k1, k1]),
      zero,
      reference(true, Buffer.concat([k2, k2]), zero, h),
    );
    expect(retailMac(key, msg)).toEqual(expected);
    expect(retailMac(key, msg)).toEqual(expected);
    expect(retailMac(Buffer.from(key), msg)).toEqual(expected);
  });

  it('refuses input that is not whole blocks, and leaves the context usable', () => {
    const key = randomBytes(16);
    expect(() => tdesEncrypt(key, randomBytes(7))).toThrow(/multiple of 8/);
    const data = randomBytes(24);
    expect(tdesEncrypt(key, data)).toEqual(reference(false, key, Buffer.alloc(8), data));
  });
});
