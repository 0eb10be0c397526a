/**
 * GlobalPlatform Secure Channel Protocol 03 (Card Specification v2.3, Amendment D), S8 mode:
 * session keys and cryptograms from the NIST SP 800-108 counter-mode KDF over AES-CMAC,
 * INITIALIZE UPDATE / EXTERNAL AUTHENTICATE, command MAC with chaining, command data
 * encryption (C-DECRYPTION), and optionally R-MAC and R-ENCRYPTION.
 *
 * Both ends: `Scp03Host` (the station: `wrap(apdu)` / `unwrapResponse(resp)` between a command
 * and the encoder) and `Scp03Card` (the simulated chip: answers the handshake,
 * `unwrapCommand(apdu)` / `wrapResponse(data, sw)`).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  type Apdu,
  type DecodedApdu,
  decodeApdu,
  decodeResponse,
  encodeApdu,
  swBytes,
} from '../iso7816/apdu.ts';
import { AesSessionKey, aesCmac } from './cmac.ts';

/** Security levels of the EXTERNAL AUTHENTICATE P1 (Amendment D table 5-1). */
export const SecurityLevel = {
  C_MAC: 0x01,
  C_DECRYPTION_C_MAC: 0x03,
  C_MAC_R_MAC: 0x11,
  C_DECRYPTION_C_MAC_R_MAC: 0x13,
  C_DECRYPTION_R_ENCRYPTION_C_MAC_R_MAC: 0x33,
} as const;
export type SecurityLevel = (typeof SecurityLevel)[keyof typeof SecurityLevel];
const VALID_LEVELS = new Set<number>(Object.values(SecurityLevel));

const C_DEC = 0x02;
const R_MAC = 0x10;
const R_ENC = 0x20;

/** Derivation constants (Amendment D table 4-1). */
const DERIVE = {
  cardCryptogram: 0x00,
  hostCryptogram: 0x01,
  cardChallenge: 0x02,
  sEnc: 0x04,
  sMac: 0x06,
  sRmac: 0x07,
} as const;

/** The static keys of the card's security domain (e.g. the diversified transport keys). */
export interface Scp03StaticKeys {
  enc: Uint8Array;
  mac: Uint8Array;
  dek?: Uint8Array;
}

export interface Scp03SessionKeys {
  sEnc: Buffer;
  sMac: Buffer;
  sRmac: Buffer;
}

/** A failed SCP03 check; `sw` is what a card answers (6982 security status not satisfied). */
export class Scp03Error extends Error {
  constructor(
    message: string,
    readonly sw = 0x6982,
  ) {
    super(message);
    this.name = 'Scp03Error';
  }
}

/**
 * The SCP03 KDF (Amendment D section 4.1.5): NIST SP 800-108 counter mode with AES-CMAC, input
 * = label (11 zero bytes || constant) || 00 || L (2 bytes, bits) || i (1 byte) || context.
 */
export function scp03Kdf(
  key: Uint8Array,
  constant: number,
  context: Uint8Array,
  bits: number,
): Buffer {
  const blocks = Math.ceil(bits / 128);
  const out: Buffer[] = [];
  for (let i = 1; i <= blocks; i++) {
    const input = Buffer.concat([
      Buffer.alloc(11),
      Buffer.from([constant, 0x00, (bits >> 8) & 0xff, bits & 0xff, i]),
      Buffer.from(context),
    ]);
    out.push(aesCmac(key, input));
  }
  return Buffer.concat(out).subarray(0, bits / 8);
}

function checkKeys(keys: Scp03StaticKeys): void {
  for (const [name, k] of [
    ['enc', keys.enc],
    ['mac', keys.mac],
  ] as const)
    if (![16, 24, 32].includes(k.length))
      throw new RangeError(`SCP03 ${name} key must be 16, 24 or 32 bytes, got ${k.length}`);
  if (keys.enc.length !== keys.mac.length)
    throw new RangeError('SCP03 enc and mac keys must have the same length');
}

/** Session keys from the static keys and both challenges. */
export function scp03SessionKeys(
  keys: Scp03StaticKeys,
  hostChallenge: Uint8Array,
  cardChallenge: Uint8Array,
): Scp03SessionKeys {
  checkKeys(keys);
  const ctx = Buffer.concat([hostChallenge, cardChallenge]);
  const bits = keys.enc.length * 8;
  return {
    sEnc: scp03Kdf(keys.enc, DERIVE.sEnc, ctx, bits),
    sMac: scp03Kdf(keys.mac, DERIVE.sMac, ctx, bits),
    sRmac: scp03Kdf(keys.mac, DERIVE.sRmac, ctx, bits),
  };
}

/**
 * The session keys' AES contexts (mrtd/cmac.ts AesSessionKey), made once per session: a
 * channel protects every APDU of a job, each needing several AES operations. They go with the
 * session keys object.
 */
interface SessionContexts {
  enc: AesSessionKey;
  mac: AesSessionKey;
  rmac: AesSessionKey;
}
const sessionContexts = new WeakMap<Scp03SessionKeys, SessionContexts>();

function contextsOf(s: Scp03SessionKeys): SessionContexts {
  let c = sessionContexts.get(s);
  if (!c) {
    c = {
      enc: new AesSessionKey(s.sEnc),
      mac: new AesSessionKey(s.sMac),
      rmac: new AesSessionKey(s.sRmac),
    };
    sessionContexts.set(s, c);
  }
  return c;
}

function aesCbc(decrypt: boolean, s: Scp03SessionKeys, iv: Buffer, data: Buffer): Buffer {
  if (data.length % 16 !== 0)
    throw new Scp03Error('encrypted data is not a whole number of AES blocks', 0x6988);
  const enc = contextsOf(s).enc;
  return decrypt ? enc.cbcDecrypt(iv, data) : enc.cbcEncrypt(iv, data);
}

function pad16(data: Buffer): Buffer {
  const out = Buffer.alloc(data.length + 16 - (data.length % 16));
  data.copy(out);
  out[data.length] = 0x80;
  return out;
}

function unpad16(data: Buffer): Buffer {
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0) i--;
  if (i < 0 || data[i] !== 0x80) throw new Scp03Error('decrypted data is badly padded', 0x6988);
  return data.subarray(0, i);
}

function counterBlock(counter: number, first = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(counter >>> 0, 12);
  b[0] = first;
  return b;
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** State shared by both ends once the channel is open. */
class Scp03Channel {
  protected session?: Scp03SessionKeys;
  protected level = 0;
  protected macChaining: Buffer = Buffer.alloc(16);
  protected encCounter = 0;

  protected requireOpen(): Scp03SessionKeys {
    if (!this.session) throw new Scp03Error('secure channel is not open', 0x6985);
    return this.session;
  }

  /** The security level agreed in EXTERNAL AUTHENTICATE (0 before). */
  get securityLevel(): number {
    return this.level;
  }

  /** C-MAC over chaining || header (CLA with 04, Lc counting the MAC) || data; updates chaining. */
  protected commandMac(s: Scp03SessionKeys, c: Apdu, data: Buffer): { apdu: Buffer; mac: Buffer } {
    const withMac = encodeApdu({
      ...c,
      data: Buffer.concat([data, Buffer.alloc(8)]),
      le: undefined,
    });
    const macInput = Buffer.concat([this.macChaining, withMac.subarray(0, withMac.length - 8)]);
    this.macChaining = contextsOf(s).mac.cmac(macInput);
    return { apdu: withMac, mac: this.macChaining.subarray(0, 8) };
  }

  protected responseIcv(s: Scp03SessionKeys, counter = this.encCounter): Buffer {
    return contextsOf(s).enc.encryptBlock(counterBlock(counter, 0x80));
  }

  protected commandIcv(s: Scp03SessionKeys): Buffer {
    return contextsOf(s).enc.encryptBlock(counterBlock(this.encCounter));
  }

  protected rmac(
    s: Scp03SessionKeys,
    data: Buffer,
    sw: number,
    chaining = this.macChaining,
  ): Buffer {
    return contextsOf(s)
      .rmac.cmac(Buffer.concat([chaining, data, swBytes(sw)]))
      .subarray(0, 8);
  }
}

/**
 * The host's channel state right after one wrapped command: its C-MAC chaining value and the
 * encryption counter, which is what checking that command's R-MAC and decrypting its answer need.
 */
export interface Scp03HostState {
  readonly macChaining: Buffer;
  readonly encCounter: number;
}

export interface Scp03HostOptions {
  keyVersion?: number;
  securityLevel?: SecurityLevel;
  /** Fixed host challenge for replaying published traces; random by default. */
  hostChallenge?: Uint8Array;
}

/** Host side (the station). */
export class Scp03Host extends Scp03Channel {
  readonly hostChallenge: Buffer;
  private readonly wantedLevel: number;
  private readonly keyVersion: number;
  private cardChallenge?: Buffer;
  private authenticated = false;

  constructor(
    private readonly keys: Scp03StaticKeys,
    opts: Scp03HostOptions = {},
  ) {
    super();
    checkKeys(keys);
    this.hostChallenge = Buffer.from(opts.hostChallenge ?? randomBytes(8));
    if (this.hostChallenge.length !== 8)
      throw new RangeError('host challenge must be 8 bytes (S8 mode)');
    this.wantedLevel = opts.securityLevel ?? SecurityLevel.C_DECRYPTION_R_ENCRYPTION_C_MAC_R_MAC;
    if (!VALID_LEVELS.has(this.wantedLevel))
      throw new RangeError(`security level ${this.wantedLevel} is not defined`);
    this.keyVersion = opts.keyVersion ?? 0;
  }

  /** The INITIALIZE UPDATE command APDU. */
  initializeUpdate(): Buffer {
    return encodeApdu({
      cla: 0x80,
      ins: 0x50,
      p1: this.keyVersion,
      p2: 0x00,
      data: this.hostChallenge,
      le: 256,
    });
  }

  /**
   * Checks the INITIALIZE UPDATE response (data and SW) and the card cryptogram; returns the
   * EXTERNAL AUTHENTICATE command APDU carrying the host cryptogram and its C-MAC.
   */
  externalAuthenticate(initUpdateResponse: Uint8Array): Buffer {
    const { data, sw } = decodeResponse(initUpdateResponse);
    if (sw !== 0x9000)
      throw new Scp03Error(`INITIALIZE UPDATE failed with status ${sw.toString(16).toUpperCase()}`);
    if (data.length !== 29 && data.length !== 32)
      throw new Scp03Error(
        `INITIALIZE UPDATE response has ${data.length} bytes, expected 29 or 32 (S8 mode)`,
      );
    const scp = data[11]!;
    const iParam = data[12]!;
    if (scp !== 0x03)
      throw new Scp03Error(`card answered with SCP${scp.toString(16).padStart(2, '0')}, not SCP03`);
    if (iParam & 0x01) throw new Scp03Error('card uses S16 mode, which is not supported');
    if (this.keyVersion !== 0 && data[10] !== this.keyVersion)
      throw new Scp03Error(`card used key version ${data[10]}, we asked for ${this.keyVersion}`);
    if (this.wantedLevel & R_MAC && !(iParam & 0x20))
      throw new Scp03Error('card does not support R-MAC');
    if (this.wantedLevel & R_ENC && !(iParam & 0x40))
      throw new Scp03Error('card does not support R-ENCRYPTION');
    this.cardChallenge = Buffer.from(data.subarray(13, 21));
    const cardCryptogram = data.subarray(21, 29);
    const s = scp03SessionKeys(this.keys, this.hostChallenge, this.cardChallenge);
    const ctx = Buffer.concat([this.hostChallenge, this.cardChallenge]);
    if (!same(scp03Kdf(s.sMac, DERIVE.cardCryptogram, ctx, 64), cardCryptogram))
      throw new Scp03Error('card cryptogram does not verify: the card does not hold our keys');
    this.session = s;
    this.macChaining = Buffer.alloc(16);
    this.encCounter = 0;
    const hostCryptogram = scp03Kdf(s.sMac, DERIVE.hostCryptogram, ctx, 64);
    const cmd: Apdu = {
      cla: 0x84,
      ins: 0x82,
      p1: this.wantedLevel,
      p2: 0x00,
      data: hostCryptogram,
    };
    const { apdu, mac } = this.commandMac(s, cmd, hostCryptogram);
    mac.copy(apdu, apdu.length - 8);
    return apdu;
  }

  /** Takes the EXTERNAL AUTHENTICATE response; the channel is open after a 9000. */
  completeAuthentication(response: Uint8Array): void {
    const { sw } = decodeResponse(response);
    if (sw !== 0x9000)
      throw new Scp03Error(
        `EXTERNAL AUTHENTICATE failed with status ${sw.toString(16).toUpperCase()}`,
      );
    this.requireOpen();
    this.level = this.wantedLevel;
    this.authenticated = true;
  }

  /** Protects a command APDU: C-DECRYPTION of the data when agreed, then the C-MAC. */
  wrap(apdu: Uint8Array): Buffer {
    const s = this.requireOpen();
    if (!this.authenticated) throw new Scp03Error('EXTERNAL AUTHENTICATE has not completed');
    const c = decodeApdu(apdu);
    this.encCounter++;
    let data = c.data;
    if (this.level & C_DEC && data.length > 0)
      data = aesCbc(false, s, this.commandIcv(s), pad16(data));
    const cmd: Apdu = { ...c, cla: c.cla | 0x04, data };
    const { apdu: out, mac } = this.commandMac(s, cmd, data);
    mac.copy(out, out.length - 8);
    if (c.le === undefined) return out;
    return encodeApdu({ ...cmd, data: Buffer.concat([data, mac]), le: c.le });
  }

  /** Checks the R-MAC and decrypts (R-ENCRYPTION) when agreed; returns plain data || SW. */
  unwrapResponse(resp: Uint8Array): Buffer {
    return this.unwrapResponseAt(resp, this.state());
  }

  /** The state after the last wrapped command (see `unwrapResponseAt` and `rewind`). */
  state(): Scp03HostState {
    return { macChaining: Buffer.from(this.macChaining), encCounter: this.encCounter };
  }

  /**
   * Goes back to a state taken before a command the card refused without processing it: a
   * `6700` to an extended-length APDU comes from the card's transport layer, before secure
   * messaging, so the card's counter and chaining did not move. The next command reuses them.
   */
  rewind(state: Scp03HostState): void {
    this.requireOpen();
    this.macChaining = Buffer.from(state.macChaining);
    this.encCounter = state.encCounter;
  }

  /**
   * `unwrapResponse` for the answer to an earlier command, when later commands were wrapped
   * since (several commands outstanding; the card answers in order). `state` is `state()` taken
   * right after that command was wrapped.
   */
  unwrapResponseAt(resp: Uint8Array, state: Scp03HostState): Buffer {
    const s = this.requireOpen();
    const { data, sw } = decodeResponse(resp);
    if (!(this.level & R_MAC)) return Buffer.from(resp);
    if (data.length === 0) {
      if (sw === 0x9000) throw new Scp03Error('response lacks the R-MAC');
      return swBytes(sw);
    }
    if (data.length < 8) throw new Scp03Error('response too short for an R-MAC');
    const body = data.subarray(0, data.length - 8);
    if (!same(this.rmac(s, body, sw, state.macChaining), data.subarray(data.length - 8)))
      throw new Scp03Error('R-MAC does not verify');
    const plain =
      this.level & R_ENC && body.length > 0
        ? unpad16(aesCbc(true, s, this.responseIcv(s, state.encCounter), body))
        : body;
    return Buffer.concat([plain, swBytes(sw)]);
  }
}

export interface Scp03CardOptions {
  /** Key diversification data returned in INITIALIZE UPDATE (10 bytes). */
  keyDiversificationData?: Uint8Array;
  keyVersion?: number;
  /** The "i" parameter: 0x70 = pseudo-random challenge, R-MAC and R-ENC supported. */
  iParam?: number;
  /** Sequence counter (3 bytes) used for pseudo-random card challenges. */
  sequenceCounter?: number;
  /** AID of the security domain, context of the pseudo-random card challenge. */
  aid?: Uint8Array;
  /** Fixed card challenge (replaying traces); else pseudo-random or random per iParam. */
  cardChallenge?: Uint8Array;
}

/** Card side (the simulated chip's security domain). */
export class Scp03Card extends Scp03Channel {
  private readonly opts: Required<Omit<Scp03CardOptions, 'cardChallenge'>> & {
    cardChallenge?: Uint8Array;
  };
  private pending?: { session: Scp03SessionKeys; ctx: Buffer };

  constructor(
    private readonly keys: Scp03StaticKeys,
    opts: Scp03CardOptions = {},
  ) {
    super();
    checkKeys(keys);
    this.opts = {
      keyDiversificationData: opts.keyDiversificationData ?? Buffer.alloc(10),
      keyVersion: opts.keyVersion ?? 0x30,
      iParam: opts.iParam ?? 0x70,
      sequenceCounter: opts.sequenceCounter ?? 0,
      aid: opts.aid ?? Buffer.from('A000000151000000', 'hex'),
      cardChallenge: opts.cardChallenge,
    };
  }

  /** Answers INITIALIZE UPDATE (response data || 9000). */
  initializeUpdate(apdu: Uint8Array): Buffer {
    const c = decodeApdu(apdu);
    if ((c.cla & 0xfc) !== 0x80 || c.ins !== 0x50)
      throw new Scp03Error('not an INITIALIZE UPDATE', 0x6d00);
    if (c.data.length !== 8) throw new Scp03Error('host challenge must be 8 bytes', 0x6700);
    if (c.p1 !== 0 && c.p1 !== this.opts.keyVersion)
      throw new Scp03Error(`no key version ${c.p1}`, 0x6a88);
    this.session = undefined;
    this.level = 0;
    const pseudo = (this.opts.iParam & 0x10) !== 0;
    const seq = Buffer.alloc(3);
    if (pseudo) {
      this.opts.sequenceCounter = (this.opts.sequenceCounter + 1) & 0xffffff;
      seq.writeUIntBE(this.opts.sequenceCounter, 0, 3);
    }
    const cardChallenge = Buffer.from(
      this.opts.cardChallenge ??
        (pseudo
          ? scp03Kdf(this.keys.enc, DERIVE.cardChallenge, Buffer.concat([seq, this.opts.aid]), 64)
          : randomBytes(8)),
    );
    const ctx = Buffer.concat([c.data, cardChallenge]);
    const session = scp03SessionKeys(this.keys, c.data, cardChallenge);
    this.pending = { session, ctx };
    const cryptogram = scp03Kdf(session.sMac, DERIVE.cardCryptogram, ctx, 64);
    return Buffer.concat([
      Buffer.from(this.opts.keyDiversificationData),
      Buffer.from([this.opts.keyVersion, 0x03, this.opts.iParam]),
      cardChallenge,
      cryptogram,
      pseudo ? seq : Buffer.alloc(0),
      swBytes(0x9000),
    ]);
  }

  /** Checks EXTERNAL AUTHENTICATE (host cryptogram and C-MAC); opens the channel. Returns 9000. */
  externalAuthenticate(apdu: Uint8Array): Buffer {
    const p = this.pending;
    this.pending = undefined;
    if (!p) throw new Scp03Error('EXTERNAL AUTHENTICATE without INITIALIZE UPDATE', 0x6985);
    const c = decodeApdu(apdu);
    if (c.cla !== 0x84 || c.ins !== 0x82 || c.data.length !== 16)
      throw new Scp03Error('malformed EXTERNAL AUTHENTICATE', 0x6700);
    if (!VALID_LEVELS.has(c.p1))
      throw new Scp03Error(`security level ${c.p1} is not supported`, 0x6a86);
    if (
      (c.p1 & R_MAC && !(this.opts.iParam & 0x20)) ||
      (c.p1 & R_ENC && !(this.opts.iParam & 0x40))
    )
      throw new Scp03Error('requested response protection is not supported', 0x6a86);
    const hostCryptogram = c.data.subarray(0, 8);
    if (!same(scp03Kdf(p.session.sMac, DERIVE.hostCryptogram, p.ctx, 64), hostCryptogram))
      throw new Scp03Error('host cryptogram does not verify');
    this.macChaining = Buffer.alloc(16);
    const { mac } = this.commandMac(p.session, { ...c, data: hostCryptogram }, hostCryptogram);
    if (!same(mac, c.data.subarray(8)))
      throw new Scp03Error('EXTERNAL AUTHENTICATE C-MAC does not verify');
    this.session = p.session;
    this.level = c.p1;
    this.encCounter = 0;
    return swBytes(0x9000);
  }

  /** Verifies the C-MAC and decrypts the data of a protected command; returns the plain command. */
  unwrapCommand(apdu: Uint8Array): DecodedApdu {
    const s = this.requireOpen();
    const c = decodeApdu(apdu);
    if (!(c.cla & 0x04)) throw new Scp03Error('command lacks secure messaging (CLA bit 3)');
    if (c.data.length < 8) throw new Scp03Error('command too short for a C-MAC', 0x6700);
    this.encCounter++;
    const body = c.data.subarray(0, c.data.length - 8);
    const { mac } = this.commandMac(s, { ...c, data: body }, body);
    if (!same(mac, c.data.subarray(c.data.length - 8)))
      throw new Scp03Error('C-MAC does not verify');
    const data =
      this.level & C_DEC && body.length > 0
        ? unpad16(aesCbc(true, s, this.commandIcv(s), body))
        : Buffer.from(body);
    return { ...c, cla: c.cla & ~0x04, data };
  }

  /** Protects a response with R-ENCRYPTION and R-MAC when agreed. */
  wrapResponse(data: Uint8Array, sw: number): Buffer {
    const s = this.requireOpen();
    let body: Buffer = Buffer.from(data);
    if (!(this.level & R_MAC)) return Buffer.concat([body, swBytes(sw)]);
    if (this.level & R_ENC && body.length > 0)
      body = aesCbc(false, s, this.responseIcv(s), pad16(body));
    return Buffer.concat([body, this.rmac(s, body, sw), swBytes(sw)]);
  }
}
