/**
 * An ECDSA P-256 signing key pair of this station kept in key custody, found by label (token) or
 * file name (development): what the audit key (./audit-key.ts) and the sync key
 * (../sync/sync-key.ts) are made of. Each of them describes itself in a `SigningKeySpec`; the
 * custody is the same:
 *
 * - PKCS#11 (production): a token key pair under the spec's label, generated in the token,
 *   private half sensitive and not extractable, sign only;
 * - development: a JSON file next to the development key file, the private key encrypted under
 *   that file's passphrase (scrypt, AES-256-GCM, the header authenticated), opened only in
 *   development mode;
 * - memory: tests and benchmarks only.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  scryptSync,
  sign,
  type KeyObject,
} from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as graphene from 'graphene-pk11';
import { z } from 'zod';
import { writeFileAtomically } from '../../db/private-files.ts';
import { KeyCustodyError, type KeyCustodyErrorCode } from './errors.ts';
import { isDevelopmentMode, readKeyCustodyConfig } from './open.ts';
import { closeSession, openSession, type Pkcs11Target } from './pkcs11.ts';

/** What one kind of signing key is called and where custody keeps it. */
export interface SigningKeySpec {
  /** Names the key in messages: 'audit' gives "the audit key", "an audit key". */
  readonly name: 'audit' | 'sync';
  /** Label of the key pair in a token. */
  readonly label: (stationId: string) => string;
  /** The development file, next to the development key file, and its format tag. */
  readonly devFile: string;
  readonly devFormat: string;
  /** The error when custody holds no such key, and what to run then. */
  readonly missingCode: KeyCustodyErrorCode;
  readonly missingHint: string;
  /** Why the key needs key custody configured (in the error when it is not). */
  readonly configNeed: string;
  // The two keys were written apart and differ in the details below; each keeps its own.
  /** Size limits on the development file's fields (the sync key's). */
  readonly boundedDevFile: boolean;
  /** An empty passphrase is refused before scrypt runs (the audit key). */
  readonly refuseEmptyPassphrase: boolean;
  /** An unreadable or non-JSON development file is reported with its cause (the audit key). */
  readonly detailedReadErrors: boolean;
  /** The token private key must also be a token object (the audit key). */
  readonly requireTokenObject: boolean;
  /** The error when the token public key is not an uncompressed point. */
  readonly badPointMessage: string;
}

/** The signing half of a key pair in custody. */
export interface SigningKey {
  /** Where the private key lives: a PKCS#11 token, a development file, or memory (tests). */
  readonly kind: 'pkcs11' | 'dev-file' | 'memory';
  readonly stationId: string;
  readonly publicKey: KeyObject;
  /** ECDSA P-256 with SHA-256 over `data`; 64 bytes r‖s. */
  sign(data: Buffer): Buffer;
  close(): void;
}

const aKey = (spec: SigningKeySpec): string =>
  `${spec.name === 'audit' ? 'an' : 'a'} ${spec.name} key`;

/** The public key in PEM (SubjectPublicKeyInfo). */
export function spkiPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** SHA-256 of the SubjectPublicKeyInfo DER, hex: how messages and manifests name a key. */
export function publicKeyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** A private key held by this process (development file or memory). */
export class SoftwareSigningKey implements SigningKey {
  readonly publicKey: KeyObject;
  private privateKey: KeyObject | undefined;

  constructor(
    private readonly spec: SigningKeySpec,
    readonly kind: 'dev-file' | 'memory',
    readonly stationId: string,
    privateKey: KeyObject,
    /** The folder of the development file the key came from (none in memory). */
    readonly devDir?: string,
  ) {
    this.privateKey = privateKey;
    this.publicKey = createPublicKey(privateKey);
  }

  sign(data: Buffer): Buffer {
    if (!this.privateKey)
      throw new KeyCustodyError('CLOSED', `the ${this.spec.name} key has been closed`);
    return sign('sha256', data, { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
  }

  close(): void {
    this.privateKey = undefined;
  }
}

/** A fresh key pair in this process's memory: tests and benchmarks only. */
export function createMemorySigningKey(spec: SigningKeySpec, stationId: string) {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new SoftwareSigningKey(spec, 'memory', stationId, pair.privateKey);
}

// --- development file -------------------------------------------------------------------------

// `max` only where the spec bounds the file.
const str = (bounded: boolean, max: number, min = 0) =>
  bounded ? z.string().min(min).max(max) : z.string().min(min);

function devFileSchema(spec: SigningKeySpec) {
  const b = spec.boundedDevFile;
  return z.strictObject({
    format: z.literal(spec.devFormat),
    version: z.literal(1),
    stationId: str(b, 40, 1),
    publicKey: str(b, 1000, 1),
    kdf: z.strictObject({
      name: z.literal('scrypt'),
      N: z
        .number()
        .int()
        .min(1 << 14)
        .max(1 << 20),
      r: z.number().int().min(1).max(32),
      p: z.number().int().min(1).max(16),
      salt: str(b, 100, 1),
    }),
    cipher: z.strictObject({
      name: z.literal('aes-256-gcm'),
      iv: str(b, 100),
      tag: str(b, 100),
    }),
    ciphertext: str(b, 1000),
  });
}
type DevFile = z.infer<ReturnType<typeof devFileSchema>>;
type DevHeader = Pick<DevFile, 'format' | 'version' | 'stationId' | 'publicKey' | 'kdf'>;

// Every field but the encryption output is authenticated: an edited header fails to decrypt.
const devAad = (f: DevHeader) =>
  Buffer.from(JSON.stringify([f.format, f.version, f.stationId, f.publicKey, f.kdf]));

function devFileKey(spec: SigningKeySpec, passphrase: string, kdf: DevFile['kdf']): Buffer {
  if (spec.refuseEmptyPassphrase && !passphrase)
    throw new KeyCustodyError(
      'SECRET_MISSING',
      `no passphrase given for the development ${spec.name} key`,
    );
  return scryptSync(passphrase.normalize('NFC'), Buffer.from(kdf.salt, 'base64'), 32, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    maxmem: 256 * kdf.N * kdf.r + (1 << 20),
  });
}

/** Creates `<keyDir>/<spec.devFile>` holding a new key pair for `stationId`. */
export function createDevSigningKey(
  spec: SigningKeySpec,
  keyDir: string,
  stationId: string,
  passphrase: string,
): SoftwareSigningKey {
  const path = join(keyDir, spec.devFile);
  if (existsSync(path))
    throw new KeyCustodyError(
      'KEY_ALREADY_EXISTS',
      `${path} exists already: it holds ${aKey(spec)}`,
    );
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const header: DevHeader = {
    format: spec.devFormat,
    version: 1,
    stationId,
    publicKey: spkiPem(pair.publicKey),
    kdf: { name: 'scrypt', N: 1 << 15, r: 8, p: 1, salt: randomBytes(16).toString('base64') },
  };
  const fileKey = devFileKey(spec, passphrase, header.kdf);
  const der = pair.privateKey.export({ type: 'pkcs8', format: 'der' });
  try {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', fileKey, iv);
    c.setAAD(devAad(header));
    const ciphertext = Buffer.concat([c.update(der), c.final()]);
    const file: DevFile = {
      ...header,
      cipher: {
        name: 'aes-256-gcm',
        iv: iv.toString('base64'),
        tag: c.getAuthTag().toString('base64'),
      },
      ciphertext: ciphertext.toString('base64'),
    };
    writeFileAtomically(path, JSON.stringify(file, null, 2) + '\n', { exclusive: true });
  } finally {
    fileKey.fill(0);
    der.fill(0);
  }
  return new SoftwareSigningKey(spec, 'dev-file', stationId, pair.privateKey, keyDir);
}

function readDevFile(spec: SigningKeySpec, path: string): unknown {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new KeyCustodyError(
        spec.missingCode,
        `this station has no ${spec.name} key: ${path} does not exist (${spec.missingHint})`,
      );
    throw new KeyCustodyError(
      'KEY_FILE_INVALID',
      spec.detailedReadErrors
        ? `cannot read ${path}: ${(e as Error).message}`
        : `${path} is not a development ${spec.name} key`,
    );
  }
  try {
    return JSON.parse(raw);
  } catch {
    throw new KeyCustodyError(
      'KEY_FILE_INVALID',
      `${path} is not a development ${spec.name} key${spec.detailedReadErrors ? ' (not JSON)' : ''}`,
    );
  }
}

/** Opens the development key pair of `stationId` from `<keyDir>/<spec.devFile>`. */
export function openDevSigningKey(
  spec: SigningKeySpec,
  keyDir: string,
  stationId: string,
  passphrase: string,
): SoftwareSigningKey {
  const path = join(keyDir, spec.devFile);
  const parsed = devFileSchema(spec).safeParse(readDevFile(spec, path));
  if (!parsed.success)
    throw new KeyCustodyError(
      'KEY_FILE_INVALID',
      `${path} is not a valid development ${spec.name} key`,
    );
  const f = parsed.data;
  if (f.stationId !== stationId)
    throw new KeyCustodyError(
      'KEY_FILE_INVALID',
      `${path} holds the ${spec.name} key of station ${f.stationId}, not ${stationId}`,
    );
  const fileKey = devFileKey(spec, passphrase, f.kdf);
  let der: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', fileKey, Buffer.from(f.cipher.iv, 'base64'));
    d.setAAD(devAad(f));
    d.setAuthTag(Buffer.from(f.cipher.tag, 'base64'));
    der = Buffer.concat([d.update(Buffer.from(f.ciphertext, 'base64')), d.final()]);
  } catch {
    throw new KeyCustodyError(
      'WRONG_PASSPHRASE',
      `cannot decrypt ${path}: wrong passphrase, or the file was altered`,
    );
  } finally {
    fileKey.fill(0);
  }
  try {
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    if (spkiPem(createPublicKey(privateKey)) !== f.publicKey)
      throw new KeyCustodyError('KEY_FILE_INVALID', `${path}: the public key does not match`);
    return new SoftwareSigningKey(spec, 'dev-file', stationId, privateKey, keyDir);
  } finally {
    der.fill(0);
  }
}

// --- PKCS#11 ----------------------------------------------------------------------------------

const P256_OID = Buffer.from('06082a8648ce3d030107', 'hex');

function publicKeyFromPoint(spec: SigningKeySpec, point: Buffer): KeyObject {
  // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point 04||X||Y.
  const raw = point.subarray(point.length - 65);
  if (raw[0] !== 4) throw new KeyCustodyError('TOKEN_ERROR', spec.badPointMessage);
  return createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: raw.subarray(1, 33).toString('base64url'),
      y: raw.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
}

function generateTokenKeyPair(session: graphene.Session, label: string) {
  return session.generateKeyPair(
    graphene.KeyGenMechanism.EC,
    { keyType: graphene.KeyType.EC, token: true, verify: true, label, paramsEC: P256_OID },
    {
      keyType: graphene.KeyType.EC,
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      modifiable: false,
      sign: true,
      derive: false,
      decrypt: false,
      unwrap: false,
      label,
    },
  );
}

/** The only object of `template` in the session, or undefined; refuses duplicates. */
function findOne<T extends graphene.SessionObject>(
  session: graphene.Session,
  template: graphene.ITemplate,
  cast: (o: graphene.SessionObject) => T,
): T | undefined {
  const found = session.find(template);
  if (found.length > 1)
    throw new KeyCustodyError(
      'TOKEN_ERROR',
      `${found.length} objects are labelled ${String(template.label)}; remove the duplicates`,
    );
  return found.length === 1 ? cast(found.items(0)) : undefined;
}

/** A key pair in a PKCS#11 token, used through one session kept open until close(). */
export class Pkcs11SigningKey implements SigningKey {
  readonly kind = 'pkcs11' as const;
  private session: graphene.Session | undefined;

  private constructor(
    private readonly spec: SigningKeySpec,
    /** Module and token; the PIN is not kept. */
    readonly target: Pkcs11Target,
    session: graphene.Session,
    readonly stationId: string,
    private readonly privateKey: graphene.PrivateKey,
    readonly publicKey: KeyObject,
  ) {
    this.session = session;
  }

  /** Opens the key pair labelled `spec.label(stationId)`, or generates it when `create` (and
   * refuses if the token holds one already). */
  static open(
    spec: SigningKeySpec,
    target: Pkcs11Target,
    stationId: string,
    create: boolean,
  ): Pkcs11SigningKey {
    const session = openSession(target, true);
    const kept = { module: target.module, token: target.token, pin: '' };
    try {
      const label = spec.label(stationId);
      let priv = findOne(session, { class: graphene.ObjectClass.PRIVATE_KEY, label }, (o) =>
        o.toType<graphene.PrivateKey>(),
      );
      let pub = findOne(session, { class: graphene.ObjectClass.PUBLIC_KEY, label }, (o) =>
        o.toType<graphene.PublicKey>(),
      );
      if (create) {
        if (priv || pub)
          throw new KeyCustodyError(
            'KEY_ALREADY_EXISTS',
            `token '${target.token}' already holds ${aKey(spec)} ${label}`,
          );
        ({ privateKey: priv, publicKey: pub } = generateTokenKeyPair(session, label));
      }
      if (!priv || !pub)
        throw new KeyCustodyError(
          spec.missingCode,
          `token '${target.token}' holds no ${spec.name} key ${label} (${spec.missingHint})`,
        );
      const a = priv.getAttribute({
        keyType: null,
        sensitive: null,
        extractable: null,
        sign: null,
        token: null,
      });
      if (
        a.keyType !== graphene.KeyType.EC ||
        a.sensitive !== true ||
        a.extractable !== false ||
        a.sign !== true ||
        (spec.requireTokenObject && a.token !== true)
      )
        throw new KeyCustodyError(
          'KEY_NOT_PROTECTED',
          `refusing the ${spec.name} key ${label} in token '${target.token}': it must be a sensitive, non-extractable EC ${spec.requireTokenObject ? 'token ' : ''}key that may sign`,
        );
      const point = pub.getAttribute({ pointEC: null }).pointEC as Buffer;
      return new Pkcs11SigningKey(
        spec,
        kept,
        session,
        stationId,
        priv,
        publicKeyFromPoint(spec, point),
      );
    } catch (e) {
      closeSession(target, session);
      if (e instanceof KeyCustodyError) throw e;
      throw new KeyCustodyError(
        'TOKEN_ERROR',
        `cannot use the ${spec.name} key in token '${target.token}': ${(e as Error).message}`,
      );
    }
  }

  /** The open session (for other objects of the same owner in the token). */
  live(): graphene.Session {
    if (!this.session)
      throw new KeyCustodyError('CLOSED', `the ${this.spec.name} key has been closed`);
    return this.session;
  }

  sign(data: Buffer): Buffer {
    // CKM_ECDSA signs a digest; the digest is computed here (SHA-256) so every token that
    // implements plain ECDSA will do.
    const digest = createHash('sha256').update(data).digest();
    const sig = this.live().createSign('ECDSA', this.privateKey).once(digest);
    if (sig.length !== 64)
      throw new KeyCustodyError('TOKEN_ERROR', `CKM_ECDSA returned ${sig.length} bytes`);
    return Buffer.from(sig);
  }

  close(): void {
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    closeSession(this.target, session);
  }
}

// --- the custody configured for a station -----------------------------------------------------

/** The key custody configured in `dataDir`, with its secret from `env`. */
function custodyOf(spec: SigningKeySpec, dataDir: string, env: NodeJS.ProcessEnv) {
  const config = readKeyCustodyConfig(dataDir);
  if (!config)
    throw new KeyCustodyError(
      'CONFIG_INVALID',
      `no key custody is configured in ${dataDir}: ${spec.configNeed}; run 'station keys configure' first`,
    );
  const secret = (name: string, what: string): string => {
    const v = env[name];
    if (v === undefined || v === '')
      throw new KeyCustodyError(
        'SECRET_MISSING',
        `the ${what} is missing: set the environment variable ${name}`,
      );
    return v;
  };
  if (config.kind === 'pkcs11')
    return {
      kind: 'pkcs11' as const,
      target: {
        module: config.module,
        token: config.token,
        pin: secret(config.pinEnv, `PIN of token '${config.token}'`),
      },
    };
  if (!isDevelopmentMode(env))
    throw new KeyCustodyError(
      'DEVELOPMENT_ONLY',
      `refusing the development ${spec.name} key next to ${config.path}: this station is not in development mode`,
    );
  return {
    kind: 'dev-file' as const,
    dir: dirname(config.path),
    passphrase: secret(config.passphraseEnv, 'passphrase of the development key file'),
  };
}

/**
 * The key of `stationId` in the key custody configured in `dataDir` (secrets from `env`); with
 * `create`, a new one made there (refused if custody holds one already).
 */
export function signingKeyInCustody(
  spec: SigningKeySpec,
  dataDir: string,
  stationId: string,
  env: NodeJS.ProcessEnv,
  create: boolean,
): Pkcs11SigningKey | SoftwareSigningKey {
  const c = custodyOf(spec, dataDir, env);
  if (c.kind === 'pkcs11') return Pkcs11SigningKey.open(spec, c.target, stationId, create);
  return create
    ? createDevSigningKey(spec, c.dir, stationId, c.passphrase)
    : openDevSigningKey(spec, c.dir, stationId, c.passphrase);
}

/**
 * Keys of one kind this process opened or created, by data directory: custody is unlocked once
 * per process (like a token session), not at every use.
 */
export class OpenedKeys<K extends { readonly stationId: string; close(): void }> {
  private readonly byDir = new Map<string, K>();

  /** The key this process holds for `dataDir` if it belongs to `stationId`. */
  get(dataDir: string, stationId: string): K | undefined {
    const known = this.byDir.get(resolve(dataDir));
    return known && known.stationId === stationId ? known : undefined;
  }

  /** Keeps `key` for `dataDir`, closing the one it replaces. */
  remember(dataDir: string, key: K): K {
    const dir = resolve(dataDir);
    const before = this.byDir.get(dir);
    if (before && before !== key) before.close();
    this.byDir.set(dir, key);
    return key;
  }

  /** Closes every key kept (end of process, or tests simulating one). */
  forget(): void {
    for (const key of this.byDir.values()) key.close();
    this.byDir.clear();
  }
}
