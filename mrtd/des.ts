/**
 * Triple DES primitives for BAC and secure messaging (Doc 9303 Part 11 section 9.8): two-key
 * 3DES-CBC with a zero IV, ISO/IEC 9797-1 padding method 2, and the ISO/IEC 9797-1 MAC
 * algorithm 3 ("retail MAC") with DES. OpenSSL 3 has no single DES in its default provider;
 * 3DES with K1 = K2 = K3 computes single DES.
 */
import { CbcChain } from './cbc-chain.ts';

const ZERO_IV = Buffer.alloc(8);

/**
 * The 24-byte keys OpenSSL takes, derived from a 16-byte K1||K2: `ede` = K1||K2||K1 (two-key
 * 3DES), `single` = K1||K1||K1 (single DES with K1), and the cipher contexts made from them
 * (made when first needed). Kept per key object, so a session's keys are laid out once rather
 * than for every message it protects. They go with the key object, and are made again if its
 * bytes have changed since (a buffer reused for another key).
 */
interface DesKeys {
  key: Buffer;
  ede: Buffer;
  single: Buffer;
  encrypt?: CbcChain;
  decrypt?: CbcChain;
  singleEncrypt?: CbcChain;
}
const derived = new WeakMap<Uint8Array, DesKeys>();

function desKeys(key: Uint8Array, what: string): DesKeys {
  let d = derived.get(key);
  if (!d || !d.key.equals(key)) {
    if (key.length !== 16) throw new RangeError(`${what} is 16 bytes (K1||K2), got ${key.length}`);
    const k1 = Buffer.from(key.subarray(0, 8));
    d = {
      key: Buffer.from(key),
      ede: Buffer.concat([Buffer.from(key), k1]),
      single: Buffer.concat([k1, k1, k1]),
    };
    derived.set(key, d);
  }
  return d;
}

/** A 3DES-CBC context kept for a key and direction (mrtd/cbc-chain.ts). */
function tdes(key: Buffer, decrypt: boolean): CbcChain {
  return new CbcChain('des-ede3-cbc', key, 8, decrypt);
}

function checkBlocks(data: Uint8Array, iv: Uint8Array): void {
  if (data.length % 8 !== 0)
    throw new RangeError(`DES input must be a multiple of 8 bytes, got ${data.length}`);
  if (iv.length !== 8) throw new RangeError(`DES IV must be 8 bytes, got ${iv.length}`);
}

/** 3DES-CBC (two keys) encryption, zero IV unless given. */
export function tdesEncrypt(key: Uint8Array, data: Uint8Array, iv: Uint8Array = ZERO_IV): Buffer {
  checkBlocks(data, iv);
  const d = desKeys(key, 'a 3DES key here');
  return (d.encrypt ??= tdes(d.ede, false)).run(data, iv);
}

/** 3DES-CBC (two keys) decryption, zero IV unless given. */
export function tdesDecrypt(key: Uint8Array, data: Uint8Array, iv: Uint8Array = ZERO_IV): Buffer {
  checkBlocks(data, iv);
  const d = desKeys(key, 'a 3DES key here');
  return (d.decrypt ??= tdes(d.ede, true)).run(data, iv);
}

/** ISO/IEC 9797-1 padding method 2: 0x80 then zeros to a multiple of `block` (always adds). */
export function pad(data: Uint8Array, block = 8): Buffer {
  const padLen = block - (data.length % block);
  const out = Buffer.alloc(data.length + padLen);
  out.set(data);
  out[data.length] = 0x80;
  return out;
}

/** Removes ISO/IEC 9797-1 method 2 padding; throws when it is malformed. */
export function unpad(data: Uint8Array): Buffer {
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0x00) i--;
  if (i < 0 || data[i] !== 0x80) throw new Error('padding is malformed (no 0x80 marker)');
  return Buffer.from(data.subarray(0, i));
}

/**
 * ISO/IEC 9797-1 MAC algorithm 3 with DES (retail MAC), over `message` padded with method 2.
 * The key is K1||K2 (16 bytes); the MAC is 8 bytes.
 */
export function retailMac(key: Uint8Array, message: Uint8Array): Buffer {
  const d = desKeys(key, 'retail MAC key');
  const data = pad(message);
  const last = data.length - 8;
  // Single DES CBC with K1 over every block but the last gives H(n-1); the last block then goes
  // through 3DES-EDE (K1, K2, K1) chained on it: E_K1(D_K2(E_K1(P(n) xor H(n-1)))), which is
  // the last single-DES step followed by the output transformation MAC = E_K1(D_K2(H(n))).
  const chain =
    last > 0
      ? (d.singleEncrypt ??= tdes(d.single, false)).run(data.subarray(0, last), ZERO_IV)
      : null;
  const iv = chain ? chain.subarray(chain.length - 8) : ZERO_IV;
  return (d.encrypt ??= tdes(d.ede, false)).run(data.subarray(last), iv);
}

/** Sets odd parity on each byte of a DES key (bit 0 is the parity bit). */
export function adjustParity(key: Uint8Array): Buffer {
  const out = Buffer.from(key);
  for (let i = 0; i < out.length; i++) {
    const b = out[i]! & 0xfe;
    let ones = 0;
    for (let v = b; v; v >>= 1) ones += v & 1;
    out[i] = b | (ones % 2 === 0 ? 1 : 0);
  }
  return out;
}
