/**
 * Active Authentication (Doc 9303 Part 11 section 6.1): the chip proves it holds the private
 * key whose public key is in DG15 by signing the terminal's 8-byte challenge (INTERNAL
 * AUTHENTICATE). RSA uses ISO/IEC 9796-2 digital signature scheme 1 (partial message
 * recovery); ECDSA uses a plain r||s signature over SHA-256 (BSI TR-03111), announced in DG14.
 * Both the chip side (`aaSign`, for a simulated chip) and the terminal side (`aaVerify`).
 */
import {
  constants,
  createHash,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';

/** ISO/IEC 10118-3 hash identifiers used in the 9796-2 trailer (xxCC). */
const TRAILER_HASH: Record<number, string> = {
  0x33: 'sha1',
  0x34: 'sha256',
  0x35: 'sha512',
  0x36: 'sha384',
  0x38: 'sha224',
};
const HASH_ID: Record<string, number> = { sha256: 0x34, sha384: 0x36, sha512: 0x35 };

export interface AaResult {
  ok: boolean;
  reason?: string;
}

/** Chip side: signs the terminal's challenge with the AA private key. */
export function aaSign(
  privateKey: KeyObject,
  challenge: Uint8Array,
  hash: 'sha256' | 'sha384' | 'sha512' = 'sha256',
): Buffer {
  if (privateKey.asymmetricKeyType === 'ec')
    return nodeSign(hash, challenge, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error('AA keys are RSA or EC');
  const k = (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  const hLen = createHash(hash).digest().length;
  const m1 = randomBytes(k - 1 - hLen - 2);
  const h = createHash(hash).update(m1).update(challenge).digest();
  const f = Buffer.concat([Buffer.from([0x6a]), m1, h, Buffer.from([HASH_ID[hash]!, 0xcc])]);
  // Raw RSA: s = F^d mod n (F < n since its top bits are 01).
  return privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, f);
}

/** Terminal side: checks the chip's answer to `challenge` against the DG15 public key. */
export function aaVerify(
  publicKeySpki: Uint8Array | KeyObject,
  challenge: Uint8Array,
  signature: Uint8Array,
): AaResult {
  let key: KeyObject;
  try {
    key =
      publicKeySpki instanceof Uint8Array
        ? createPublicKey({ key: Buffer.from(publicKeySpki), format: 'der', type: 'spki' })
        : publicKeySpki;
  } catch (e) {
    return { ok: false, reason: `DG15 public key is unreadable: ${(e as Error).message}` };
  }
  if (key.asymmetricKeyType === 'ec') {
    const bits = key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'sha256' : 'sha384';
    const ok = nodeVerify(
      bits,
      Buffer.from(challenge),
      { key, dsaEncoding: 'ieee-p1363' },
      Buffer.from(signature),
    );
    return ok ? { ok } : { ok, reason: 'ECDSA signature over the challenge does not verify' };
  }
  if (key.asymmetricKeyType !== 'rsa')
    return { ok: false, reason: `unsupported AA key type ${key.asymmetricKeyType}` };
  const k = (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  if (signature.length !== k)
    return { ok: false, reason: `RSA signature has ${signature.length} bytes, modulus ${k}` };
  let f: Buffer;
  try {
    f = publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, signature);
  } catch (e) {
    return { ok: false, reason: `RSA signature is out of range: ${(e as Error).message}` };
  }
  if (f[0] !== 0x6a)
    return {
      ok: false,
      reason: 'recovered message does not start with 6A (ISO/IEC 9796-2 partial recovery)',
    };
  let hash: string;
  let trailer: number;
  if (f[f.length - 1] === 0xbc) {
    hash = 'sha1';
    trailer = 1;
  } else if (f[f.length - 1] === 0xcc && TRAILER_HASH[f[f.length - 2]!]) {
    hash = TRAILER_HASH[f[f.length - 2]!]!;
    trailer = 2;
  } else return { ok: false, reason: 'unknown ISO/IEC 9796-2 trailer' };
  const hLen = createHash(hash).digest().length;
  const m1 = f.subarray(1, f.length - trailer - hLen);
  const d = f.subarray(f.length - trailer - hLen, f.length - trailer);
  const expect = createHash(hash).update(m1).update(challenge).digest();
  return expect.equals(d)
    ? { ok: true }
    : { ok: false, reason: 'hash in the recovered message does not match the challenge' };
}
