import { createCipheriv } from 'node:crypto';

/** AES block size in bytes. */
const BLOCK = 16;
/** The constant R_b of RFC 4493 section 2.3 for a 128-bit block cipher. */
const RB = 0x87;

function cipherName(key: Uint8Array, mode: 'ecb' | 'cbc'): string {
  switch (key.length) {
    case 16:
      return `aes-128-${mode}`;
    case 24:
      return `aes-192-${mode}`;
    case 32:
      return `aes-256-${mode}`;
    default:
      throw new RangeError(`AES-CMAC key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}

/** Shifts a 16-byte block left by one bit and conditionally XORs R_b (RFC 4493 section 2.3). */
function double(block: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) {
    const next = i + 1 < BLOCK ? block[i + 1]! : 0;
    out[i] = ((block[i]! << 1) | (next >>> 7)) & 0xff;
  }
  if (block[0]! & 0x80) out[BLOCK - 1] = out[BLOCK - 1]! ^ RB;
  return out;
}

/** The CMAC subkeys K1 and K2 of RFC 4493 section 2.3 (Generate_Subkey). */
export function cmacSubkeys(key: Uint8Array): { k1: Buffer; k2: Buffer } {
  const ecb = createCipheriv(cipherName(key, 'ecb'), key, null).setAutoPadding(false);
  const l = Buffer.concat([ecb.update(Buffer.alloc(BLOCK)), ecb.final()]);
  const k1 = double(l);
  const k2 = double(k1);
  l.fill(0);
  return { k1, k2 };
}

/**
 * AES-CMAC (RFC 4493; NIST SP 800-38B) of `message` under an AES-128, AES-192 or AES-256 key.
 * Returns the full 16-byte tag; callers that need a truncated MAC slice it themselves.
 */
export function aesCmac(key: Uint8Array, message: Uint8Array): Buffer {
  const { k1, k2 } = cmacSubkeys(key);
  const n = Math.max(1, Math.ceil(message.length / BLOCK));
  const complete = message.length > 0 && message.length % BLOCK === 0;
  // The message, padded with 10* to whole blocks when the last block is incomplete.
  const padded = Buffer.alloc(n * BLOCK);
  padded.set(message);
  if (!complete) padded[message.length] = 0x80;
  const subkey = complete ? k1 : k2;
  const last = (n - 1) * BLOCK;
  for (let i = 0; i < BLOCK; i++) padded[last + i] = padded[last + i]! ^ subkey[i]!;
  // CBC-MAC with a zero IV: the tag is the last ciphertext block.
  const cbc = createCipheriv(cipherName(key, 'cbc'), key, Buffer.alloc(BLOCK)).setAutoPadding(
    false,
  );
  const encrypted = Buffer.concat([cbc.update(padded), cbc.final()]);
  const tag = Buffer.from(encrypted.subarray(encrypted.length - BLOCK));
  padded.fill(0);
  encrypted.fill(0);
  k1.fill(0);
  k2.fill(0);
  return tag;
}
