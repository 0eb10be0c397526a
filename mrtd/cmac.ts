import { createCipheriv, type Cipher } from 'node:crypto';
import { CbcChain } from './cbc-chain.ts';

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

/**
 * AES contexts kept for one key that protects many messages (a secure channel's session key):
 * one ECB context for single blocks, CBC contexts chained by hand between messages (each
 * message's first block corrected for its own IV, which gives exactly CBC under that IV), and
 * CMAC with its subkeys derived once. Setting up an OpenSSL context costs more than the few
 * blocks an APDU carries. Only for keys that live as long as their session: the contexts hold
 * the key schedule until they are collected with it (never for master or static keys).
 */
export class AesSessionKey {
  private readonly ecb: Cipher;
  private readonly encrypt: CbcChain;
  private readonly decrypt: CbcChain;
  private readonly k1: Buffer;
  private readonly k2: Buffer;

  constructor(key: Uint8Array) {
    this.ecb = createCipheriv(cipherName(key, 'ecb'), key, null).setAutoPadding(false);
    this.encrypt = new CbcChain(cipherName(key, 'cbc'), key, BLOCK, false);
    this.decrypt = new CbcChain(cipherName(key, 'cbc'), key, BLOCK, true);
    const l = this.encryptBlock(Buffer.alloc(BLOCK));
    this.k1 = double(l);
    this.k2 = double(this.k1);
    l.fill(0);
  }

  /** AES of one 16-byte block. */
  encryptBlock(block: Uint8Array): Buffer {
    if (block.length !== BLOCK)
      throw new RangeError(`an AES block is 16 bytes, got ${block.length}`);
    return this.ecb.update(block);
  }

  /** AES-CBC encryption of whole blocks under `iv`. */
  cbcEncrypt(iv: Uint8Array, data: Uint8Array): Buffer {
    checkCbc(iv, data);
    return this.encrypt.run(data, iv);
  }

  /** AES-CBC decryption of whole blocks under `iv`. */
  cbcDecrypt(iv: Uint8Array, data: Uint8Array): Buffer {
    checkCbc(iv, data);
    return this.decrypt.run(data, iv);
  }

  /** AES-CMAC (RFC 4493) of `message`: the full 16-byte tag, as aesCmac() gives it. */
  cmac(message: Uint8Array): Buffer {
    const n = Math.max(1, Math.ceil(message.length / BLOCK));
    const complete = message.length > 0 && message.length % BLOCK === 0;
    const padded = Buffer.alloc(n * BLOCK);
    padded.set(message);
    if (!complete) padded[message.length] = 0x80;
    const subkey = complete ? this.k1 : this.k2;
    const last = (n - 1) * BLOCK;
    for (let i = 0; i < BLOCK; i++) padded[last + i] = padded[last + i]! ^ subkey[i]!;
    const encrypted = this.encrypt.run(padded, ZERO_BLOCK);
    const tag = Buffer.from(encrypted.subarray(encrypted.length - BLOCK));
    padded.fill(0);
    encrypted.fill(0);
    return tag;
  }
}

const ZERO_BLOCK = Buffer.alloc(BLOCK);

function checkCbc(iv: Uint8Array, data: Uint8Array): void {
  if (data.length % BLOCK !== 0)
    throw new RangeError(`AES-CBC input must be whole blocks, got ${data.length} bytes`);
  if (iv.length !== BLOCK) throw new RangeError(`an AES IV is 16 bytes, got ${iv.length}`);
}
