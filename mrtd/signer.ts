/**
 * Document Signer keys behind one interface: a PEM private key file (development, tests) or a
 * key on a PKCS#11 token (graphene-pk11; tested against SoftHSM2). The private key never leaves
 * the signer and is never logged.
 */
import { createHash, createPrivateKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as graphene from 'graphene-pk11';
import { readBoundedFile } from '../contracts/bounded-read.ts';

/** A PEM or DER key or certificate is a few kilobytes; a bigger file is not one. */
export const KEY_FILE_MAX_BYTES = 64 * 1024;

export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512';
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];

/** Something that signs with the Document Signer key. */
export interface DocumentSigner {
  /** Key algorithm: the CMS signature algorithm follows from it. */
  readonly keyType: 'ec' | 'rsa';
  /**
   * Signs `data` (hashing it with `hash`): ECDSA signatures come back DER encoded
   * (SEQUENCE { r, s }), RSA signatures as PKCS #1 v1.5 blocks.
   */
  sign(data: Uint8Array, hash: HashAlgorithm): Promise<Buffer>;
  /** Releases the token session, if any. */
  close(): void;
}

export class SignerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignerError';
  }
}

/** Signs with a private key from PEM (PKCS #8 or SEC1/PKCS #1). */
export class PemKeySigner implements DocumentSigner {
  readonly keyType: 'ec' | 'rsa';
  private readonly key: KeyObject;

  constructor(pem: string | Buffer, passphrase?: string) {
    try {
      this.key = createPrivateKey({ key: pem, format: 'pem', passphrase });
    } catch (e) {
      throw new SignerError(
        `the Document Signer key is not a readable PEM private key: ${(e as Error).message}`,
      );
    }
    const t = this.key.asymmetricKeyType;
    if (t !== 'ec' && t !== 'rsa')
      throw new SignerError(`Document Signer key type ${t} is not supported (EC or RSA)`);
    this.keyType = t;
  }

  static fromFile(path: string, passphrase?: string): PemKeySigner {
    return new PemKeySigner(
      readBoundedFile(path, KEY_FILE_MAX_BYTES, `key file ${path}`),
      passphrase,
    );
  }

  sign(data: Uint8Array, hash: HashAlgorithm): Promise<Buffer> {
    return Promise.resolve(nodeSign(hash, data, this.key));
  }

  close(): void {}
}

/** A parsed RFC 7512 PKCS#11 URI, with the attributes we use. */
export interface Pkcs11Uri {
  token?: string;
  object?: string;
  id?: Buffer;
  modulePath?: string;
  pin?: string;
}

/** Parses `pkcs11:token=X;object=Y?module-path=/path&pin-value=1234` (RFC 7512). */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (!uri.startsWith('pkcs11:')) throw new SignerError('a PKCS#11 URI starts with "pkcs11:"');
  const [path = '', query = ''] = uri.slice('pkcs11:'.length).split('?', 2);
  const out: Pkcs11Uri = {};
  const dec = (v: string): string => decodeURIComponent(v);
  for (const part of path.split(';').filter(Boolean)) {
    const [k, v = ''] = part.split('=', 2);
    if (k === 'token') out.token = dec(v);
    else if (k === 'object') out.object = dec(v);
    else if (k === 'id') out.id = Buffer.from(dec(v), 'latin1');
  }
  for (const part of query.split('&').filter(Boolean)) {
    const [k, v = ''] = part.split('=', 2);
    if (k === 'module-path') out.modulePath = dec(v);
    else if (k === 'pin-value') out.pin = dec(v);
  }
  return out;
}

/** Converts a raw ECDSA signature r||s (PKCS#11 CKM_ECDSA output) to DER SEQUENCE { r, s }. */
export function ecdsaRawToDer(raw: Uint8Array): Buffer {
  if (raw.length % 2 !== 0) throw new SignerError('raw ECDSA signature has odd length');
  const half = raw.length / 2;
  const int = (b: Uint8Array): asn1js.Integer => {
    let v = Buffer.from(b);
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    v = v.subarray(i);
    if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return new asn1js.Integer({ valueHex: v });
  };
  return Buffer.from(
    new asn1js.Sequence({ value: [int(raw.subarray(0, half)), int(raw.subarray(half))] }).toBER(
      false,
    ),
  );
}

/**
 * Signs on a PKCS#11 token. ECDSA: the digest is computed here and signed with CKM_ECDSA;
 * RSA: CKM_SHA256/384/512_RSA_PKCS on the token.
 */
export class Pkcs11Signer implements DocumentSigner {
  readonly keyType: 'ec' | 'rsa';
  private readonly mod: graphene.Module;
  private readonly session: graphene.Session;
  private readonly key: graphene.PrivateKey;

  constructor(opts: { module: string; token: string; pin: string; object?: string; id?: Buffer }) {
    this.mod = graphene.Module.load(opts.module, 'pkcs11');
    this.mod.initialize();
    try {
      const slots = this.mod.getSlots(true);
      let slot: graphene.Slot | undefined;
      for (let i = 0; i < slots.length; i++) {
        const s = slots.items(i);
        if (s.getToken().label.trim() === opts.token) slot = s;
      }
      if (!slot) throw new SignerError(`no PKCS#11 token labelled "${opts.token}"`);
      this.session = slot.open(graphene.SessionFlag.SERIAL_SESSION);
      try {
        this.session.login(opts.pin, graphene.UserType.USER);
      } catch {
        throw new SignerError(`login to PKCS#11 token "${opts.token}" failed (wrong PIN?)`);
      }
      const filter: Record<string, unknown> = { class: graphene.ObjectClass.PRIVATE_KEY };
      if (opts.object) filter.label = opts.object;
      if (opts.id) filter.id = opts.id;
      const found = this.session.find(filter);
      if (found.length !== 1)
        throw new SignerError(
          `expected one private key ${opts.object ? `labelled "${opts.object}" ` : ''}on token "${opts.token}", found ${found.length}`,
        );
      this.key = found.items(0).toType<graphene.PrivateKey>();
      const type = this.key.type;
      if (type === graphene.KeyType.EC) this.keyType = 'ec';
      else if (type === graphene.KeyType.RSA) this.keyType = 'rsa';
      else throw new SignerError('the token key is neither EC nor RSA');
    } catch (e) {
      this.mod.finalize();
      throw e;
    }
  }

  /** Opens the key named by a PKCS#11 URI; the PIN comes from the URI or STATION_PKCS11_PIN. */
  static fromUri(uri: string, defaults: { module?: string; pin?: string } = {}): Pkcs11Signer {
    const u = parsePkcs11Uri(uri);
    const module = u.modulePath ?? defaults.module ?? process.env.STATION_PKCS11_MODULE;
    const pin = u.pin ?? defaults.pin ?? process.env.STATION_PKCS11_PIN;
    if (!module) throw new SignerError('PKCS#11 URI needs module-path= (or STATION_PKCS11_MODULE)');
    if (!u.token) throw new SignerError('PKCS#11 URI needs token=');
    if (!pin) throw new SignerError('PKCS#11 URI needs pin-value= (or STATION_PKCS11_PIN)');
    return new Pkcs11Signer({ module, token: u.token, pin, object: u.object, id: u.id });
  }

  sign(data: Uint8Array, hash: HashAlgorithm): Promise<Buffer> {
    if (this.keyType === 'ec') {
      const digest = createHash(hash).update(data).digest();
      const raw = this.session.createSign('ECDSA', this.key).once(digest);
      return Promise.resolve(ecdsaRawToDer(raw));
    }
    const mech = {
      sha256: 'SHA256_RSA_PKCS',
      sha384: 'SHA384_RSA_PKCS',
      sha512: 'SHA512_RSA_PKCS',
    }[hash];
    return Promise.resolve(
      Buffer.from(this.session.createSign(mech, this.key).once(Buffer.from(data))),
    );
  }

  close(): void {
    try {
      this.session.logout();
      this.session.close();
    } finally {
      this.mod.finalize();
    }
  }
}

/** Opens a signer from a `--ds-key` argument: a PKCS#11 URI or the path of a PEM file. */
export function openSigner(keyRef: string): DocumentSigner {
  return keyRef.startsWith('pkcs11:')
    ? Pkcs11Signer.fromUri(keyRef)
    : PemKeySigner.fromFile(keyRef);
}
