/**
 * Basic Access Control (Doc 9303 Part 11 section 4.3 and 9.7): document basic access keys
 * from the MRZ, the mutual authentication on both sides (terminal and chip), and session keys
 * with the send sequence counter.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { adjustParity, retailMac, tdesDecrypt, tdesEncrypt } from './des.ts';

/** Key derivation function of Part 11 section 9.7.1 for 3DES: SHA-1(seed || c), 16 bytes, odd parity. */
export function deriveDesKey(seed: Uint8Array, counter: 1 | 2): Buffer {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(counter);
  const h = createHash('sha1').update(seed).update(c).digest();
  return adjustParity(h.subarray(0, 16));
}

export interface BacKeys {
  kSeed: Buffer;
  kEnc: Buffer;
  kMac: Buffer;
}

/** Document basic access keys from the MRZ information (doc number+check, DOB+check, DOE+check). */
export function bacKeys(mrzInformation: string): BacKeys {
  if (!/^[A-Z0-9<]{9,}\d\d{6}\d\d{6}\d$/.test(mrzInformation))
    throw new Error(
      'MRZ information must be document number + check digit, YYMMDD + check, YYMMDD + check',
    );
  return bacKeysFromSeed(
    createHash('sha1').update(mrzInformation, 'latin1').digest().subarray(0, 16),
  );
}

/** The access keys from K_seed (what a chip stores: PUT DATA 0062 of personalization). */
export function bacKeysFromSeed(kSeed: Uint8Array): BacKeys {
  if (kSeed.length !== 16) throw new RangeError(`K_seed must be 16 bytes, got ${kSeed.length}`);
  const seed = Buffer.from(kSeed);
  return { kSeed: seed, kEnc: deriveDesKey(seed, 1), kMac: deriveDesKey(seed, 2) };
}

/**
 * The "MRZ information" of a TD3 MRZ (two 44-character lines, or the 88 characters): document
 * number, date of birth and date of expiry, each with its check digit, exactly as printed.
 */
export function mrzInformationOf(mrz: string): string {
  const flat = mrz.replace(/\r?\n/g, '').trim();
  if (flat.length !== 88) throw new Error(`a TD3 MRZ has 88 characters, got ${flat.length}`);
  const l2 = flat.slice(44);
  const info = l2.slice(0, 10) + l2.slice(13, 20) + l2.slice(21, 28);
  bacKeys(info); // validates the shape
  return info;
}

/** Keys and counter of a secure messaging session established by BAC. */
export interface BacSession {
  ksEnc: Buffer;
  ksMac: Buffer;
  /** Send sequence counter: the low 4 bytes of RND.ICC, then the low 4 bytes of RND.IFD. */
  ssc: Buffer;
}

/** Raised when a cryptogram or its MAC does not check out. */
export class BacError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BacError';
  }
}

function sessionFrom(kIfd: Buffer, kIcc: Buffer, rndIcc: Buffer, rndIfd: Buffer): BacSession {
  const seed = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) seed[i] = kIfd[i]! ^ kIcc[i]!;
  return {
    ksEnc: deriveDesKey(seed, 1),
    ksMac: deriveDesKey(seed, 2),
    ssc: Buffer.concat([rndIcc.subarray(4, 8), rndIfd.subarray(4, 8)]),
  };
}

function macEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function checkCryptogram(
  keys: { kEnc: Buffer; kMac: Buffer },
  data: Uint8Array,
  who: string,
): Buffer {
  const d = Buffer.from(data);
  if (d.length !== 40)
    throw new BacError(
      `${who} cryptogram must be 40 bytes (32 encrypted + 8 MAC), got ${d.length}`,
    );
  const e = d.subarray(0, 32);
  if (!macEquals(retailMac(keys.kMac, e), d.subarray(32)))
    throw new BacError(
      `${who} cryptogram MAC does not verify: wrong access keys (MRZ) or corrupted data`,
    );
  return tdesDecrypt(keys.kEnc, e);
}

/**
 * Terminal (IFD) side of the BAC mutual authentication. After GET CHALLENGE gives RND.ICC,
 * `externalAuthenticateData()` is the data of EXTERNAL AUTHENTICATE (E.IFD || M.IFD) and
 * `complete()` checks the chip's answer and yields the session.
 */
export class BacTerminal {
  readonly rndIfd: Buffer;
  readonly kIfd: Buffer;

  constructor(
    private readonly keys: BacKeys,
    private readonly rndIcc: Buffer,
    /** For tests with published vectors; random by default. */
    fixed?: { rndIfd?: Uint8Array; kIfd?: Uint8Array },
  ) {
    if (rndIcc.length !== 8) throw new BacError(`RND.ICC must be 8 bytes, got ${rndIcc.length}`);
    this.rndIfd = Buffer.from(fixed?.rndIfd ?? randomBytes(8));
    this.kIfd = Buffer.from(fixed?.kIfd ?? randomBytes(16));
  }

  /** S = RND.IFD || RND.ICC || K.IFD, encrypted (E.IFD) and MACed (M.IFD). */
  externalAuthenticateData(): Buffer {
    const s = Buffer.concat([this.rndIfd, this.rndIcc, this.kIfd]);
    const e = tdesEncrypt(this.keys.kEnc, s);
    return Buffer.concat([e, retailMac(this.keys.kMac, e)]);
  }

  /** Verifies E.ICC || M.ICC (the response data, without SW) and derives the session. */
  complete(response: Uint8Array): BacSession {
    const r = checkCryptogram(this.keys, response, 'chip');
    if (!r.subarray(0, 8).equals(this.rndIcc))
      throw new BacError('chip did not return our RND.ICC');
    if (!r.subarray(8, 16).equals(this.rndIfd)) throw new BacError('chip did not echo RND.IFD');
    return sessionFrom(this.kIfd, r.subarray(16, 32), this.rndIcc, this.rndIfd);
  }
}

/**
 * Chip (ICC) side of BAC, for the simulated chip: issues RND.ICC, checks the terminal's
 * cryptogram and answers with its own.
 */
export class BacChip {
  readonly rndIcc: Buffer;
  readonly kIcc: Buffer;

  constructor(
    private readonly keys: BacKeys,
    fixed?: { rndIcc?: Uint8Array; kIcc?: Uint8Array },
  ) {
    this.rndIcc = Buffer.from(fixed?.rndIcc ?? randomBytes(8));
    this.kIcc = Buffer.from(fixed?.kIcc ?? randomBytes(16));
  }

  /** Handles EXTERNAL AUTHENTICATE data; returns the response data and the session. */
  externalAuthenticate(data: Uint8Array): { response: Buffer; session: BacSession } {
    const s = checkCryptogram(this.keys, data, 'terminal');
    const rndIfd = s.subarray(0, 8);
    if (!s.subarray(8, 16).equals(this.rndIcc)) throw new BacError('terminal did not echo RND.ICC');
    const kIfd = s.subarray(16, 32);
    const r = Buffer.concat([this.rndIcc, rndIfd, this.kIcc]);
    const e = tdesEncrypt(this.keys.kEnc, r);
    return {
      response: Buffer.concat([e, retailMac(this.keys.kMac, e)]),
      session: sessionFrom(Buffer.from(kIfd), this.kIcc, this.rndIcc, Buffer.from(rndIfd)),
    };
  }
}
