/**
 * One OpenSSL CBC context used for message after message under one key (a secure channel's
 * session key protects hundreds of APDUs, and setting up a context costs more than the few
 * blocks each carries). CBC chains every message through the context's last ciphertext block,
 * so each message's first block is corrected by hand for the IV it should have had: on the way
 * in when encrypting (P1 xor IV xor last), on the way out when decrypting (D(C1) xor last xor
 * IV). The result is exactly CBC of that message under its IV. Used for 3DES (mrtd/des.ts) and
 * AES (mrtd/cmac.ts); the callers check block and IV lengths.
 */
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';

export class CbcChain {
  private readonly ctx: Cipher | Decipher;
  /** The last ciphertext block that went through the context (its current chaining value). */
  private readonly last: Buffer;

  /** `algorithm` is OpenSSL's CBC cipher name (`des-ede3-cbc`, `aes-128-cbc`, ...). */
  constructor(
    algorithm: string,
    key: Uint8Array,
    private readonly block: number,
    private readonly decrypt: boolean,
  ) {
    this.last = Buffer.alloc(block);
    const zero = Buffer.alloc(block);
    this.ctx = (
      decrypt ? createDecipheriv(algorithm, key, zero) : createCipheriv(algorithm, key, zero)
    ).setAutoPadding(false);
  }

  /** CBC of `data` (whole blocks) under `iv`. */
  run(data: Uint8Array, iv: Uint8Array): Buffer {
    const n = this.block;
    if (data.length === 0) return Buffer.alloc(0);
    const last = this.last;
    if (this.decrypt) {
      const out = this.ctx.update(data);
      for (let i = 0; i < n; i++) out[i] = out[i]! ^ last[i]! ^ iv[i]!;
      last.set(data.subarray(data.length - n));
      return out;
    }
    const input = Buffer.from(data);
    for (let i = 0; i < n; i++) input[i] = input[i]! ^ last[i]! ^ iv[i]!;
    const out = this.ctx.update(input);
    input.fill(0);
    last.set(out.subarray(out.length - n));
    return out;
  }
}
