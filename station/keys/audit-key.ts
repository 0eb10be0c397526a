/**
 * The station audit key: an ECDSA P-256 key pair kept in key custody (a non-extractable token
 * object in production, an encrypted development file in development) that signs every audit
 * entry and the audit anchor. The database never holds the private half, so write access to
 * the database file is not enough to add, edit, reorder or truncate the audit chain unseen; the
 * central office verifies the same signatures with the public half (docs/key-custody.md).
 *
 * The anchor is the latest audit head (seq, entry hash) signed as an anchor statement, kept
 * outside the database: a private data object in the token, or a file next to the development
 * key. It lets the station itself notice entries cut from the end of the chain.
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
import { writeFileAtomically } from '../../db/private-files.ts';
import * as graphene from 'graphene-pk11';
import { z } from 'zod';
import { KeyCustodyError } from './errors.ts';
import { isDevelopmentMode, readKeyCustodyConfig } from './open.ts';
import { closeSession, openSession, type Pkcs11Target } from './pkcs11.ts';

/** The latest audit head the station vouched for, outside the database. */
export interface AuditAnchor {
  seq: number;
  /** Hash of the audit entry at `seq` (hex). */
  hash: string;
  /** Signature of the anchor statement (base64, IEEE P1363 r‖s). */
  signature: string;
}

/** The signing half of the audit key plus its anchor store. */
export interface AuditKey {
  /** Where the private key lives: a PKCS#11 token, a development file, or memory (tests). */
  readonly kind: 'pkcs11' | 'dev-file' | 'memory';
  readonly stationId: string;
  readonly publicKey: KeyObject;
  /** ECDSA P-256 with SHA-256 over `data`; 64 bytes r‖s. */
  sign(data: Buffer): Buffer;
  /** The stored anchor; undefined if none was written yet. Throws if it is unreadable. */
  readAnchor(): AuditAnchor | undefined;
  writeAnchor(anchor: AuditAnchor): void;
  close(): void;
}

/** Label of the audit key pair in a token, and of its anchor data object. */
export const auditKeyLabel = (stationId: string): string => `audit/${stationId}`;
export const auditAnchorLabel = (stationId: string): string => `audit-anchor/${stationId}`;
/** The development audit key file and the anchor file, next to the development key file. */
export const DEV_AUDIT_KEY_FILE = 'dev-audit-key.json';
export const AUDIT_ANCHOR_FILE = 'audit-anchor.json';

const ANCHOR_FORMAT = 'perso-station/audit-anchor@1';
const anchorSchema = z.strictObject({
  format: z.literal(ANCHOR_FORMAT),
  stationId: z.string(),
  seq: z.number().int().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  signature: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/),
});

function anchorText(stationId: string, a: AuditAnchor): string {
  return JSON.stringify({ format: ANCHOR_FORMAT, stationId, ...a }) + '\n';
}

function parseAnchor(text: string, stationId: string, where: string): AuditAnchor {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KeyCustodyError('ANCHOR_INVALID', `the audit anchor in ${where} is not JSON`);
  }
  const r = anchorSchema.safeParse(json);
  if (!r.success)
    throw new KeyCustodyError(
      'ANCHOR_INVALID',
      `the audit anchor in ${where} is malformed (${r.error.issues[0]?.path.join('.') || 'root'})`,
    );
  if (r.data.stationId !== stationId)
    throw new KeyCustodyError(
      'ANCHOR_INVALID',
      `the audit anchor in ${where} belongs to station ${r.data.stationId}, not ${stationId}`,
    );
  return { seq: r.data.seq, hash: r.data.hash, signature: r.data.signature };
}

function spkiPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** The audit key's id: SHA-256 of its SubjectPublicKeyInfo DER, hex (as for manifest keys). */
export function auditKeyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** A private key held by this process (development file or test), anchor in a file. */
class SoftwareAuditKey implements AuditKey {
  readonly publicKey: KeyObject;
  private privateKey: KeyObject | undefined;

  constructor(
    readonly kind: 'dev-file' | 'memory',
    readonly stationId: string,
    privateKey: KeyObject,
    private readonly anchorFile: string,
  ) {
    this.privateKey = privateKey;
    this.publicKey = createPublicKey(privateKey);
  }

  sign(data: Buffer): Buffer {
    if (!this.privateKey) throw new KeyCustodyError('CLOSED', 'the audit key has been closed');
    return sign('sha256', data, { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
  }

  readAnchor(): AuditAnchor | undefined {
    let text: string;
    try {
      text = readFileSync(this.anchorFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new KeyCustodyError(
        'ANCHOR_INVALID',
        `cannot read the audit anchor ${this.anchorFile}: ${(e as Error).message}`,
      );
    }
    return parseAnchor(text, this.stationId, this.anchorFile);
  }

  writeAnchor(anchor: AuditAnchor): void {
    writeFileAtomically(this.anchorFile, anchorText(this.stationId, anchor));
  }

  close(): void {
    this.privateKey = undefined;
  }
}

// --- development file -------------------------------------------------------------------------

const DEV_AUDIT_FORMAT = 'perso-station/dev-audit-key';
const devFileSchema = z.strictObject({
  format: z.literal(DEV_AUDIT_FORMAT),
  version: z.literal(1),
  stationId: z.string().min(1),
  publicKey: z.string().min(1),
  kdf: z.strictObject({
    name: z.literal('scrypt'),
    N: z
      .number()
      .int()
      .min(1 << 14)
      .max(1 << 20),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    salt: z.string().min(1),
  }),
  cipher: z.strictObject({ name: z.literal('aes-256-gcm'), iv: z.string(), tag: z.string() }),
  ciphertext: z.string(),
});
type DevAuditFile = z.infer<typeof devFileSchema>;

function devAad(f: Pick<DevAuditFile, 'format' | 'version' | 'stationId' | 'publicKey' | 'kdf'>) {
  return Buffer.from(
    JSON.stringify([f.format, f.version, f.stationId, f.publicKey, f.kdf], null, 0),
  );
}

function devFileKey(passphrase: string, kdf: DevAuditFile['kdf']): Buffer {
  if (!passphrase)
    throw new KeyCustodyError(
      'SECRET_MISSING',
      'no passphrase given for the development audit key',
    );
  return scryptSync(passphrase.normalize('NFC'), Buffer.from(kdf.salt, 'base64'), 32, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    maxmem: 256 * kdf.N * kdf.r + (1 << 20),
  });
}

/** Creates `<dir>/dev-audit-key.json` holding a new audit key for `stationId`. */
export function createDevAuditKey(keyDir: string, stationId: string, passphrase: string): AuditKey {
  const path = join(keyDir, DEV_AUDIT_KEY_FILE);
  if (existsSync(path))
    throw new KeyCustodyError(
      'KEY_ALREADY_EXISTS',
      `${path} exists already: it holds an audit key`,
    );
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const header = {
    format: DEV_AUDIT_FORMAT as typeof DEV_AUDIT_FORMAT,
    version: 1 as const,
    stationId,
    publicKey: spkiPem(pair.publicKey),
    kdf: {
      name: 'scrypt' as const,
      N: 1 << 15,
      r: 8,
      p: 1,
      salt: randomBytes(16).toString('base64'),
    },
  };
  const fileKey = devFileKey(passphrase, header.kdf);
  const der = pair.privateKey.export({ type: 'pkcs8', format: 'der' });
  const iv = randomBytes(12);
  try {
    const c = createCipheriv('aes-256-gcm', fileKey, iv);
    c.setAAD(devAad(header));
    const ciphertext = Buffer.concat([c.update(der), c.final()]);
    const file: DevAuditFile = {
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
  return new SoftwareAuditKey(
    'dev-file',
    stationId,
    pair.privateKey,
    join(keyDir, AUDIT_ANCHOR_FILE),
  );
}

/** Opens the development audit key of `stationId` from `<dir>/dev-audit-key.json`. */
export function openDevAuditKey(keyDir: string, stationId: string, passphrase: string): AuditKey {
  const path = join(keyDir, DEV_AUDIT_KEY_FILE);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new KeyCustodyError(
        'AUDIT_KEY_MISSING',
        `this station has no audit key: ${path} does not exist (a station set up before audit keys: run 'station audit enroll-key')`,
      );
    throw new KeyCustodyError('KEY_FILE_INVALID', `cannot read ${path}: ${(e as Error).message}`);
  }
  let parsed;
  try {
    parsed = devFileSchema.safeParse(JSON.parse(raw));
  } catch {
    throw new KeyCustodyError(
      'KEY_FILE_INVALID',
      `${path} is not a development audit key (not JSON)`,
    );
  }
  if (!parsed.success)
    throw new KeyCustodyError('KEY_FILE_INVALID', `${path} is not a valid development audit key`);
  const f = parsed.data;
  if (f.stationId !== stationId)
    throw new KeyCustodyError(
      'KEY_FILE_INVALID',
      `${path} holds the audit key of station ${f.stationId}, not ${stationId}`,
    );
  const fileKey = devFileKey(passphrase, f.kdf);
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
    return new SoftwareAuditKey('dev-file', stationId, privateKey, join(keyDir, AUDIT_ANCHOR_FILE));
  } finally {
    der.fill(0);
  }
}

/** A fresh audit key held in memory, its anchor in `<dataDir>/audit-anchor.json`: for tests
 * and benchmarks only (the key is gone when the process ends). */
export function createMemoryAuditKey(dataDir: string, stationId: string): AuditKey {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new SoftwareAuditKey(
    'memory',
    stationId,
    pair.privateKey,
    join(dataDir, AUDIT_ANCHOR_FILE),
  );
}

// --- PKCS#11 ----------------------------------------------------------------------------------

const P256_OID = Buffer.from('06082a8648ce3d030107', 'hex');

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

function publicKeyFromPoint(point: Buffer): KeyObject {
  // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point 04||X||Y.
  const raw = point.subarray(point.length - 65);
  if (raw[0] !== 4)
    throw new KeyCustodyError(
      'TOKEN_ERROR',
      'the audit public key is not an uncompressed P-256 point',
    );
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

class Pkcs11AuditKey implements AuditKey {
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

  static open(target: Pkcs11Target, stationId: string, create: boolean): Pkcs11AuditKey {
    const session = openSession(target, true);
    const kept = { module: target.module, token: target.token, pin: '' };
    try {
      const label = auditKeyLabel(stationId);
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
            `token '${target.token}' already holds an audit key ${label}`,
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
          'AUDIT_KEY_MISSING',
          `token '${target.token}' holds no audit key ${label} (a station set up before audit keys: run 'station audit enroll-key')`,
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
        a.token !== true
      )
        throw new KeyCustodyError(
          'KEY_NOT_PROTECTED',
          `refusing the audit key ${label} in token '${target.token}': it must be a sensitive, non-extractable EC token key that may sign`,
        );
      const point = pub.getAttribute({ pointEC: null }).pointEC as Buffer;
      return new Pkcs11AuditKey(kept, session, stationId, priv, publicKeyFromPoint(point));
    } catch (e) {
      closeSession(target, session);
      if (e instanceof KeyCustodyError) throw e;
      throw new KeyCustodyError(
        'TOKEN_ERROR',
        `cannot use the audit key in token '${target.token}': ${(e as Error).message}`,
      );
    }
  }

  private live(): graphene.Session {
    if (!this.session) throw new KeyCustodyError('CLOSED', 'the audit key has been closed');
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

  private anchorObjects(): graphene.Data[] {
    const found = this.live().find({
      class: graphene.ObjectClass.DATA,
      label: auditAnchorLabel(this.stationId),
    });
    const out: graphene.Data[] = [];
    for (let i = 0; i < found.length; i++) out.push(found.items(i).toType<graphene.Data>());
    return out;
  }

  private parse(obj: graphene.Data): AuditAnchor {
    const value = obj.getAttribute({ value: null }).value as Buffer;
    return parseAnchor(
      Buffer.from(value).toString('utf8'),
      this.stationId,
      `token '${this.target.token}'`,
    );
  }

  readAnchor(): AuditAnchor | undefined {
    // Two objects only after a crash between writing the new anchor and removing the old one:
    // the newer (higher seq) counts.
    let best: AuditAnchor | undefined;
    for (const obj of this.anchorObjects()) {
      const a = this.parse(obj);
      if (!best || a.seq > best.seq) best = a;
    }
    return best;
  }

  writeAnchor(anchor: AuditAnchor): void {
    // CKA_VALUE of a data object cannot be changed in every token (SoftHSM2 refuses): a new
    // object is created first, then the older ones are destroyed.
    const older = this.anchorObjects();
    this.live().create({
      class: graphene.ObjectClass.DATA,
      token: true,
      private: true,
      modifiable: false,
      label: auditAnchorLabel(this.stationId),
      application: 'perso-station',
      value: Buffer.from(anchorText(this.stationId, anchor), 'utf8'),
    });
    for (const obj of older) this.live().destroy(obj);
  }

  close(): void {
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    closeSession(this.target, session);
  }
}

// --- the station's audit key ------------------------------------------------------------------

// Audit keys this process opened or created, by data directory: custody is unlocked once per
// process (like a token session), not at every database handle.
const opened = new Map<string, AuditKey>();

/** Keeps `key` as the audit key of `dataDir` for this process. */
export function rememberAuditKey(dataDir: string, key: AuditKey): AuditKey {
  const dir = resolve(dataDir);
  const before = opened.get(dir);
  if (before && before !== key) before.close();
  opened.set(dir, key);
  return key;
}

/** Closes every audit key this process holds (end of process, or tests simulating one). */
export function forgetAuditKeys(): void {
  for (const key of opened.values()) key.close();
  opened.clear();
}

function custodyOf(dataDir: string, env: NodeJS.ProcessEnv) {
  const config = readKeyCustodyConfig(dataDir);
  if (!config)
    throw new KeyCustodyError(
      'CONFIG_INVALID',
      `no key custody is configured in ${dataDir}: the audit log is signed with the station audit key kept there; run 'station keys configure' first`,
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
      `refusing the development audit key next to ${config.path}: this station is not in development mode`,
    );
  return {
    kind: 'dev-file' as const,
    dir: dirname(config.path),
    passphrase: secret(config.passphraseEnv, 'passphrase of the development key file'),
  };
}

/**
 * The audit key of the station in `dataDir`, from the key custody configured there (secrets from
 * `env`), or the one this process opened already.
 */
export function openAuditKey(
  dataDir: string,
  stationId: string,
  env: NodeJS.ProcessEnv = process.env,
): AuditKey {
  const known = opened.get(resolve(dataDir));
  if (known && known.stationId === stationId) return known;
  const c = custodyOf(dataDir, env);
  const key =
    c.kind === 'pkcs11'
      ? Pkcs11AuditKey.open(c.target, stationId, false)
      : openDevAuditKey(c.dir, stationId, c.passphrase);
  return rememberAuditKey(dataDir, key);
}

/** Generates the audit key of a new station in the key custody configured in `dataDir`.
 * Refuses when custody holds one for this station already. */
export function createAuditKey(
  dataDir: string,
  stationId: string,
  env: NodeJS.ProcessEnv = process.env,
): AuditKey {
  const c = custodyOf(dataDir, env);
  const key =
    c.kind === 'pkcs11'
      ? Pkcs11AuditKey.open(c.target, stationId, true)
      : createDevAuditKey(c.dir, stationId, c.passphrase);
  return rememberAuditKey(dataDir, key);
}

/** The audit public key in PEM form (for the central office). */
export function auditPublicKeyPem(key: AuditKey): string {
  return spkiPem(key.publicKey);
}
