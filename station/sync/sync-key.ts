/**
 * The station sync key: the ECDSA P-256 key pair the station signs its requests to the central
 * office with (docs/sync-station.md). Its own key, not the audit key: the audit key signs the
 * chain the central office verifies, the sync key proves who is talking, and either can be
 * replaced without the other. Kept in key custody like the audit key (station/keys/audit-key.ts):
 *
 * - PKCS#11 (production): a token key pair labelled `sync/<station id>`, generated in the token,
 *   private half sensitive and not extractable, sign only;
 * - development: `dev-sync-key.json` next to the development key file, the private key encrypted
 *   under that file's passphrase (scrypt, AES-256-GCM), opened only in development mode;
 * - memory: tests only.
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
import { KeyCustodyError } from '../keys/errors.ts';
import { isDevelopmentMode, readKeyCustodyConfig } from '../keys/open.ts';
import { closeSession, openSession, type Pkcs11Target } from '../keys/pkcs11.ts';

export interface SyncKey {
  readonly kind: 'pkcs11' | 'dev-file' | 'memory';
  readonly stationId: string;
  readonly publicKey: KeyObject;
  /** ECDSA P-256 with SHA-256 over `data`; 64 bytes r‖s. */
  sign(data: Buffer): Buffer;
  close(): void;
}

export const syncKeyLabel = (stationId: string): string => `sync/${stationId}`;
export const DEV_SYNC_KEY_FILE = 'dev-sync-key.json';
const DEV_FORMAT = 'perso-station/dev-sync-key';

/** The public key in PEM (SubjectPublicKeyInfo). */
export function syncPublicKeyPem(key: { publicKey: KeyObject }): string {
  return key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** SHA-256 of the SubjectPublicKeyInfo DER, hex: how messages name the key. */
export function syncKeyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

class SoftwareSyncKey implements SyncKey {
  readonly publicKey: KeyObject;
  private privateKey: KeyObject | undefined;
  constructor(
    readonly kind: 'dev-file' | 'memory',
    readonly stationId: string,
    privateKey: KeyObject,
  ) {
    this.privateKey = privateKey;
    this.publicKey = createPublicKey(privateKey);
  }
  sign(data: Buffer): Buffer {
    if (!this.privateKey) throw new KeyCustodyError('CLOSED', 'the sync key has been closed');
    return sign('sha256', data, { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
  }
  close(): void {
    this.privateKey = undefined;
  }
}

/** A fresh key in this process's memory: tests and benchmarks only. */
export function createMemorySyncKey(stationId: string): SyncKey {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new SoftwareSyncKey('memory', stationId, pair.privateKey);
}

// --- development file -------------------------------------------------------------------------

const devFileSchema = z.strictObject({
  format: z.literal(DEV_FORMAT),
  version: z.literal(1),
  stationId: z.string().min(1).max(40),
  publicKey: z.string().min(1).max(1000),
  kdf: z.strictObject({
    name: z.literal('scrypt'),
    N: z
      .number()
      .int()
      .min(1 << 14)
      .max(1 << 20),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    salt: z.string().min(1).max(100),
  }),
  cipher: z.strictObject({
    name: z.literal('aes-256-gcm'),
    iv: z.string().max(100),
    tag: z.string().max(100),
  }),
  ciphertext: z.string().max(1000),
});
type DevFile = z.infer<typeof devFileSchema>;

// Every field but the encryption output is authenticated: an edited header fails to decrypt.
const devAad = (f: Pick<DevFile, 'format' | 'version' | 'stationId' | 'publicKey' | 'kdf'>) =>
  Buffer.from(JSON.stringify([f.format, f.version, f.stationId, f.publicKey, f.kdf]));

function fileKey(passphrase: string, kdf: DevFile['kdf']): Buffer {
  return scryptSync(passphrase.normalize('NFC'), Buffer.from(kdf.salt, 'base64'), 32, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    maxmem: 256 * kdf.N * kdf.r + (1 << 20),
  });
}

export function createDevSyncKey(keyDir: string, stationId: string, passphrase: string): SyncKey {
  const path = join(keyDir, DEV_SYNC_KEY_FILE);
  if (existsSync(path))
    throw new KeyCustodyError('KEY_ALREADY_EXISTS', `${path} exists already: it holds a sync key`);
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const header = {
    format: DEV_FORMAT as typeof DEV_FORMAT,
    version: 1 as const,
    stationId,
    publicKey: syncPublicKeyPem(pair),
    kdf: {
      name: 'scrypt' as const,
      N: 1 << 15,
      r: 8,
      p: 1,
      salt: randomBytes(16).toString('base64'),
    },
  };
  const k = fileKey(passphrase, header.kdf);
  const der = pair.privateKey.export({ type: 'pkcs8', format: 'der' });
  try {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', k, iv);
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
    k.fill(0);
    der.fill(0);
  }
  return new SoftwareSyncKey('dev-file', stationId, pair.privateKey);
}

export function openDevSyncKey(keyDir: string, stationId: string, passphrase: string): SyncKey {
  const path = join(keyDir, DEV_SYNC_KEY_FILE);
  let parsed;
  try {
    parsed = devFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new KeyCustodyError(
        'KEY_FILE_MISSING',
        `this station has no sync key: ${path} does not exist (run 'station sync enrol')`,
      );
    throw new KeyCustodyError('KEY_FILE_INVALID', `${path} is not a development sync key`);
  }
  if (!parsed.success)
    throw new KeyCustodyError('KEY_FILE_INVALID', `${path} is not a valid development sync key`);
  const f = parsed.data;
  if (f.stationId !== stationId)
    throw new KeyCustodyError(
      'KEY_FILE_INVALID',
      `${path} holds the sync key of station ${f.stationId}, not ${stationId}`,
    );
  const k = fileKey(passphrase, f.kdf);
  let der: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', k, Buffer.from(f.cipher.iv, 'base64'));
    d.setAAD(devAad(f));
    d.setAuthTag(Buffer.from(f.cipher.tag, 'base64'));
    der = Buffer.concat([d.update(Buffer.from(f.ciphertext, 'base64')), d.final()]);
  } catch {
    throw new KeyCustodyError(
      'WRONG_PASSPHRASE',
      `cannot decrypt ${path}: wrong passphrase, or the file was altered`,
    );
  } finally {
    k.fill(0);
  }
  try {
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    if (syncPublicKeyPem({ publicKey: createPublicKey(privateKey) }) !== f.publicKey)
      throw new KeyCustodyError('KEY_FILE_INVALID', `${path}: the public key does not match`);
    return new SoftwareSyncKey('dev-file', stationId, privateKey);
  } finally {
    der.fill(0);
  }
}

// --- PKCS#11 ----------------------------------------------------------------------------------

const P256_OID = Buffer.from('06082a8648ce3d030107', 'hex');

function publicKeyFromPoint(point: Buffer): KeyObject {
  // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point 04||X||Y.
  const raw = point.subarray(point.length - 65);
  if (raw[0] !== 4)
    throw new KeyCustodyError('TOKEN_ERROR', 'the sync public key is not an uncompressed point');
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

class Pkcs11SyncKey implements SyncKey {
  readonly kind = 'pkcs11' as const;
  private session: graphene.Session | undefined;
  private constructor(
    private readonly target: Pkcs11Target,
    session: graphene.Session,
    readonly stationId: string,
    private readonly privateKey: graphene.PrivateKey,
    readonly publicKey: KeyObject,
  ) {
    this.session = session;
  }

  static open(target: Pkcs11Target, stationId: string, create: boolean): Pkcs11SyncKey {
    const session = openSession(target, true);
    const kept = { module: target.module, token: target.token, pin: '' };
    const label = syncKeyLabel(stationId);
    try {
      const find = (cls: graphene.ObjectClass) => {
        const found = session.find({ class: cls, label });
        if (found.length > 1)
          throw new KeyCustodyError(
            'TOKEN_ERROR',
            `${found.length} objects are labelled ${label}; remove the duplicates`,
          );
        return found.length === 1 ? found.items(0) : undefined;
      };
      let priv = find(graphene.ObjectClass.PRIVATE_KEY)?.toType<graphene.PrivateKey>();
      let pub = find(graphene.ObjectClass.PUBLIC_KEY)?.toType<graphene.PublicKey>();
      if (create) {
        if (priv || pub)
          throw new KeyCustodyError(
            'KEY_ALREADY_EXISTS',
            `token '${target.token}' already holds a sync key ${label}`,
          );
        const pair = session.generateKeyPair(
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
        priv = pair.privateKey;
        pub = pair.publicKey;
      }
      if (!priv || !pub)
        throw new KeyCustodyError(
          'KEY_FILE_MISSING',
          `token '${target.token}' holds no sync key ${label} (run 'station sync enrol')`,
        );
      const a = priv.getAttribute({
        keyType: null,
        sensitive: null,
        extractable: null,
        sign: null,
      });
      if (
        a.keyType !== graphene.KeyType.EC ||
        a.sensitive !== true ||
        a.extractable !== false ||
        a.sign !== true
      )
        throw new KeyCustodyError(
          'KEY_NOT_PROTECTED',
          `refusing the sync key ${label} in token '${target.token}': it must be a sensitive, non-extractable EC key that may sign`,
        );
      const point = pub.getAttribute({ pointEC: null }).pointEC as Buffer;
      return new Pkcs11SyncKey(kept, session, stationId, priv, publicKeyFromPoint(point));
    } catch (e) {
      closeSession(target, session);
      if (e instanceof KeyCustodyError) throw e;
      throw new KeyCustodyError(
        'TOKEN_ERROR',
        `cannot use the sync key in token '${target.token}': ${(e as Error).message}`,
      );
    }
  }

  sign(data: Buffer): Buffer {
    if (!this.session) throw new KeyCustodyError('CLOSED', 'the sync key has been closed');
    const digest = createHash('sha256').update(data).digest();
    const sig = this.session.createSign('ECDSA', this.privateKey).once(digest);
    if (sig.length !== 64)
      throw new KeyCustodyError('TOKEN_ERROR', `CKM_ECDSA returned ${sig.length} bytes`);
    return Buffer.from(sig);
  }

  close(): void {
    const s = this.session;
    if (!s) return;
    this.session = undefined;
    closeSession(this.target, s);
  }
}

// --- the station's sync key -------------------------------------------------------------------

const opened = new Map<string, SyncKey>();

function custodyOf(dataDir: string, env: NodeJS.ProcessEnv) {
  const config = readKeyCustodyConfig(dataDir);
  if (!config)
    throw new KeyCustodyError(
      'CONFIG_INVALID',
      `no key custody is configured in ${dataDir}: the sync key is kept there; run 'station keys configure' first`,
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
      `refusing the development sync key next to ${config.path}: this station is not in development mode`,
    );
  return {
    kind: 'dev-file' as const,
    dir: dirname(config.path),
    passphrase: secret(config.passphraseEnv, 'passphrase of the development key file'),
  };
}

/** Keeps `key` as the sync key of `dataDir` for this process (tests give a memory key). */
export function rememberSyncKey(dataDir: string, key: SyncKey): SyncKey {
  const dir = resolve(dataDir);
  const before = opened.get(dir);
  if (before && before !== key) before.close();
  opened.set(dir, key);
  return key;
}

export function forgetSyncKeys(): void {
  for (const k of opened.values()) k.close();
  opened.clear();
}

/** The sync key of the station in `dataDir` from its key custody, or the one this process holds. */
export function openSyncKey(
  dataDir: string,
  stationId: string,
  env: NodeJS.ProcessEnv = process.env,
): SyncKey {
  const known = opened.get(resolve(dataDir));
  if (known && known.stationId === stationId) return known;
  const c = custodyOf(dataDir, env);
  const key =
    c.kind === 'pkcs11'
      ? Pkcs11SyncKey.open(c.target, stationId, false)
      : openDevSyncKey(c.dir, stationId, c.passphrase);
  return rememberSyncKey(dataDir, key);
}

/** The sync key for enrolment: the one in custody if there is one, else a new one made there. */
export function openOrCreateSyncKey(
  dataDir: string,
  stationId: string,
  env: NodeJS.ProcessEnv = process.env,
): SyncKey {
  try {
    return openSyncKey(dataDir, stationId, env);
  } catch (e) {
    if (!(e instanceof KeyCustodyError) || e.code !== 'KEY_FILE_MISSING') throw e;
  }
  const c = custodyOf(dataDir, env);
  const key =
    c.kind === 'pkcs11'
      ? Pkcs11SyncKey.open(c.target, stationId, true)
      : createDevSyncKey(c.dir, stationId, c.passphrase);
  return rememberSyncKey(dataDir, key);
}
