import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AesSessionKey, aesCmac, cmacSubkeys } from './cmac.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// The example message shared by RFC 4493 section 4 and NIST SP 800-38B appendix D.1-D.3.
const M64 = hex(`6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`);

describe('aesCmac: RFC 4493 section 4 test vectors (AES-128)', () => {
  // RFC 4493 "The AES-CMAC Algorithm", section 4 "Test Vectors":
  //   K              2b7e1516 28aed2a6 abf71588 09cf4f3c
  //   Subkey Generation: AES-128(key,0) 7df76b0c 1ab899b3 3e42f047 b91b546f
  //                      K1 fbeed618 35713366 7c85e08f 7236a8de
  //                      K2 f7ddac30 6ae266cc f90bc11e e46d513b
  //   Example 1: len = 0  -> AES-CMAC bb1d6929 e9593728 7fa37d12 9b756746
  //   Example 2: len = 16 -> AES-CMAC 070a16b4 6b4d4144 f79bdd9d d04a287c
  //   Example 3: len = 40 -> AES-CMAC dfa66747 de9ae630 30ca3261 1497c827
  //   Example 4: len = 64 -> AES-CMAC 51f0bebf 7e3b9d92 fc497417 79363cfe
  const key = hex('2b7e151628aed2a6abf7158809cf4f3c');

  it('generates the subkeys K1 and K2', () => {
    const { k1, k2 } = cmacSubkeys(key);
    expect(k1.toString('hex')).toBe('fbeed618357133667c85e08f7236a8de');
    expect(k2.toString('hex')).toBe('f7ddac306ae266ccf90bc11ee46d513b');
  });

  it.each([
    [0, 'bb1d6929e95937287fa37d129b756746'],
    [16, '070a16b46b4d4144f79bdd9dd04a287c'],
    [40, 'dfa66747de9ae63030ca32611497c827'],
    [64, '51f0bebf7e3b9d92fc49741779363cfe'],
  ])('example with a %i-byte message', (len, tag) => {
    expect(aesCmac(key, M64.subarray(0, len)).toString('hex')).toBe(tag);
  });
});

describe('aesCmac: NIST SP 800-38B appendix D vectors (AES-192, AES-256)', () => {
  // NIST SP 800-38B, D.2 (AES-192) and D.3 (AES-256), examples 5-8 and 9-12.
  it.each([
    ['8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b', 0, 'd17ddf46adaacde531cac483de7a9367'],
    ['8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b', 16, '9e99a7bf31e710900662f65e617c5184'],
    ['8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b', 40, '8a1de5be2eb31aad089a82e6ee908b0e'],
    ['8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b', 64, 'a1d5df0eed790f794d77589659f39a11'],
    [
      '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
      0,
      '028962f61b7bf89efc6b551f4667d983',
    ],
    [
      '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
      16,
      '28a7023f452e8f82bd4bf28d8c37c35c',
    ],
    [
      '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
      40,
      'aaf3d8f1de5640c232f5b169b9c911e6',
    ],
    [
      '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
      64,
      'e1992190549f6ed5696a2c056c315410',
    ],
  ])('key %s, %i-byte message', (k, len, tag) => {
    expect(aesCmac(hex(k), M64.subarray(0, len)).toString('hex')).toBe(tag);
  });
});

/**
 * Messages of every shape RFC 4493 section 2.4 treats apart: empty (one padded block, K2), a
 * last block that is complete (K1) or not (10* padding, K2), one block or several (the CBC
 * chain), and the lengths around each block boundary. fast-check's default size would draw
 * only messages of under 11 bytes: one partial block, never K1, never a chain.
 */
const cmacMessage = fc
  .oneof(
    fc.constantFrom(0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64, 65),
    fc.integer({ min: 1, max: 5 }).map((blocks) => blocks * 16),
    fc.integer({ min: 17, max: 90 }),
  )
  .chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));

describe('aesCmac: agreement with OpenSSL', () => {
  it('matches `openssl mac CMAC` on random keys and messages', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(16, 24, 32).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
        cmacMessage,
        (key, message) => {
          const expected = execFileSync(
            'openssl',
            [
              'mac',
              '-cipher',
              `AES-${key.length * 8}-CBC`,
              '-macopt',
              `hexkey:${Buffer.from(key).toString('hex')}`,
              'CMAC',
            ],
            { input: message, encoding: 'utf8' },
          )
            .trim()
            .toLowerCase();
          expect(aesCmac(key, message).toString('hex')).toBe(expected);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('aesCmac: subkeys kept per key', () => {
  it('MACs with the new key when a key buffer is rewritten with another key', () => {
    // RFC 4493 example 2 under its key, then the AES-192 key of SP 800-38B D.2 example 6 in a
    // buffer that held another 24-byte key before: the subkeys kept must not be reused.
    const k = hex('2b7e151628aed2a6abf7158809cf4f3c');
    expect(aesCmac(k, M64.subarray(0, 16)).toString('hex')).toBe(
      '070a16b46b4d4144f79bdd9dd04a287c',
    );
    const k192 = Buffer.alloc(24, 0x11);
    aesCmac(k192, M64.subarray(0, 16));
    hex('8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b').copy(k192);
    expect(aesCmac(k192, M64.subarray(0, 16)).toString('hex')).toBe(
      '9e99a7bf31e710900662f65e617c5184',
    );
  });
});

describe('aesCmac: bad input', () => {
  it('rejects a key that is not an AES key length', () => {
    expect(() => aesCmac(new Uint8Array(15), new Uint8Array(0))).toThrow(
      /16, 24 or 32 bytes, got 15/,
    );
  });
});

describe('AesSessionKey: contexts kept for a session key', () => {
  const fresh = (decrypt: boolean, key: Buffer, iv: Buffer, data: Buffer): Buffer => {
    const name = `aes-${key.length * 8}-cbc`;
    const c = (
      decrypt ? createDecipheriv(name, key, iv) : createCipheriv(name, key, iv)
    ).setAutoPadding(false);
    return Buffer.concat([c.update(data), c.final()]);
  };

  it('gives what fresh contexts give, message after message, in any order', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(16, 24, 32),
        fc.array(
          fc.record({
            op: fc.constantFrom('enc', 'dec', 'mac', 'block'),
            // Up to five blocks: fast-check's default size would keep nearly every message under one.
            data: fc.uint8Array({ maxLength: 80, size: 'max' }),
            iv: fc.uint8Array({ minLength: 16, maxLength: 16 }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        (keyLength, ops) => {
          const key = randomBytes(keyLength);
          const s = new AesSessionKey(key);
          for (const { op, data, iv } of ops) {
            const d = Buffer.from(data);
            const v = Buffer.from(iv);
            const blocks = d.subarray(0, d.length - (d.length % 16));
            if (op === 'mac') expect(s.cmac(d)).toEqual(aesCmac(key, d));
            else if (op === 'enc')
              expect(s.cbcEncrypt(v, blocks)).toEqual(fresh(false, key, v, blocks));
            else if (op === 'dec')
              expect(s.cbcDecrypt(v, blocks)).toEqual(fresh(true, key, v, blocks));
            else
              expect(s.encryptBlock(v)).toEqual(
                createCipheriv(`aes-${keyLength * 8}-ecb`, key, null)
                  .setAutoPadding(false)
                  .update(v),
              );
          }
        },
      ),
    );
  });

  it('refuses input that is not whole blocks', () => {
    const s = new AesSessionKey(randomBytes(16));
    expect(() => s.cbcEncrypt(Buffer.alloc(16), Buffer.alloc(15))).toThrow(/whole blocks/);
    expect(() => s.encryptBlock(Buffer.alloc(8))).toThrow(/16 bytes/);
  });
});
