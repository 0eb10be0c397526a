/**
 * The application data key: the AES-256 key that protects applicants' personal data and images
 * at rest (station/applications, docs/applications.md). It never enters the database. Each
 * application gets its own random data-encryption key; this custody key only wraps and unwraps
 * those (AES-256-GCM, fresh 96-bit nonce, the caller's additional data binding the wrap to its
 * application row).
 *
 * - In a PKCS#11 token (production): a token secret key labelled `data/applications/v1`,
 *   generated inside the token (AES-256, sensitive, not extractable, encrypt/decrypt only);
 *   wrapping is CKM_AES_GCM in the token.
 * - In development: `<data-dir>/dev-data-key.json`, the key encrypted under the passphrase of
 *   the development key file (scrypt -> AES-256-GCM, like station/keys/dev-key-file.ts), opened
 *   only in development mode.
 *
 * Wrap and unwrap are synchronous on purpose: they run inside SQLite transactions, which
 * better-sqlite3 requires to be synchronous, and both custodies compute synchronously.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as graphene from 'graphene-pk11';
import { z } from 'zod';
import { KeyCustodyError } from './errors.ts';
import {
  isDevelopmentMode,
  keyCustodyConfigSchema,
  type KeyCustodyConfig,
  type OpenCustodyOptions,
} from './open.ts';
import { closeSession, openSession, type Pkcs11Target } from './pkcs11.ts';

/** The token label (and CKA_ID) of the application data key. */
export const DATA_KEY_LABEL = 'data/applications/v1' as const;
/** The development data key file, in the station's data directory. */
export const DEV_DATA_KEY_FILE = 'dev-data-key.json';
export const DEV_DATA_KEY_FORMAT = 'perso-station/dev-data-key' as const;

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** Where the data key is, for messages and the audit: never its bytes. */
export interface DataKeyInfo {
  kind: 'pkcs11' | 'dev-file';
  label: string;
  /** The token (`token '<label>'`) or the file path. */
  where: string;
}

/** The custody's application data key. */
export interface ApplicationDataKey {
  readonly kind: 'pkcs11' | 'dev-file';
  /** The key's label, stored with each application so a later key version can be told apart. */
  readonly label: string;
  /** AES-256-GCM under the data key with a fresh random 96-bit nonce:
   * nonce (12) || ciphertext || tag (16). `aad` is authenticated, not stored. */
  wrap(secret: Uint8Array, aad: Uint8Array): Buffer;
  /** The inverse of wrap; KeyCustodyError('UNWRAP_FAILED') when the bytes, the additional data
   * or the key differ from the wrap's. */
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Buffer;
  /** Releases the token session or wipes the key from memory. Idempotent. */
  close(): Promise<void>;
}

function unwrapFailed(where: string): KeyCustodyError {
  return new KeyCustodyError(
    'UNWRAP_FAILED',
    `the data key in ${where} cannot unwrap these bytes: they were altered, moved from another record, or wrapped under another key`,
  );
}

function splitWrapped(wrapped: Uint8Array, where: string): { nonce: Buffer; body: Buffer } {
  const b = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  if (b.length < NONCE_BYTES + TAG_BYTES) throw unwrapFailed(where);
  return { nonce: b.subarray(0, NONCE_BYTES), body: b.subarray(NONCE_BYTES) };
}

// --- development file ----------------------------------------------------------------------

const b64 = (len: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]+=*$/)
    .refine((s) => Buffer.from(s, 'base64').length === len, `must be ${len} bytes`);

const devFileSchema = z.object({
  format: z.literal(DEV_DATA_KEY_FORMAT),
  version: z.literal(1),
  label: z.literal(DATA_KEY_LABEL),
  kdf: z.object({
    name: z.literal('scrypt'),
    N: z
      .number()
      .int()
      .min(1 << 14)
      .max(1 << 20)
      .refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    salt: b64(16),
  }),
  cipher: z.object({ name: z.literal('aes-256-gcm'), iv: b64(12), tag: b64(16) }),
  ciphertext: b64(32),
});
type DevDataKeyFile = z.infer<typeof devFileSchema>;

// Everything but the encryption output is authenticated: changing a parameter breaks the file.
function devFileAad(f: Pick<DevDataKeyFile, 'format' | 'version' | 'label' | 'kdf'>): Buffer {
  const { name, N, r, p, salt } = f.kdf;
  return Buffer.from(
    JSON.stringify({
      format: f.format,
      version: f.version,
      label: f.label,
      kdf: { name, N, r, p, salt },
      cipher: 'aes-256-gcm',
    }),
  );
}

function fileKey(passphrase: string, kdf: DevDataKeyFile['kdf']): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      Buffer.from(kdf.salt, 'base64'),
      32,
      { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + (1 << 20) },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** Creates `path` holding a new random AES-256 data key encrypted under `passphrase`. Refuses
 * to replace an existing file: that would make every queued application unreadable. */
export async function createDevDataKeyFile(
  path: string,
  passphrase: string,
  options: { scryptN?: number } = {},
): Promise<DataKeyInfo> {
  if (!passphrase) throw new KeyCustodyError('SECRET_MISSING', 'no passphrase given');
  if (existsSync(path))
    throw new KeyCustodyError(
      'KEY_ALREADY_EXISTS',
      `${path} already exists: replacing the data key would make every queued application unreadable`,
    );
  const header = {
    format: DEV_DATA_KEY_FORMAT,
    version: 1 as const,
    label: DATA_KEY_LABEL,
    kdf: {
      name: 'scrypt' as const,
      N: options.scryptN ?? 1 << 15,
      r: 8,
      p: 1,
      salt: randomBytes(16).toString('base64'),
    },
  };
  const k = await fileKey(passphrase, header.kdf);
  const dataKey = randomBytes(32);
  try {
    const iv = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', k, iv);
    cipher.setAAD(devFileAad(header));
    const ciphertext = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    const file: DevDataKeyFile = {
      ...header,
      cipher: {
        name: 'aes-256-gcm',
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
      },
      ciphertext: ciphertext.toString('base64'),
    };
    try {
      writeFileSync(path, JSON.stringify(file, null, 2) + '\n', { flag: 'wx', mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new KeyCustodyError('KEY_ALREADY_EXISTS', `${path} already exists`);
      throw e;
    }
  } finally {
    k.fill(0);
    dataKey.fill(0);
  }
  return { kind: 'dev-file', label: DATA_KEY_LABEL, where: path };
}

class DevFileDataKey implements ApplicationDataKey {
  readonly kind = 'dev-file' as const;
  readonly label = DATA_KEY_LABEL;
  private key: Buffer | undefined;

  constructor(
    private readonly path: string,
    key: Buffer,
  ) {
    this.key = key;
  }

  private live(): Buffer {
    if (!this.key) throw new KeyCustodyError('CLOSED', 'the data key has been closed');
    return this.key;
  }

  wrap(secret: Uint8Array, aad: Uint8Array): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.live(), nonce);
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(secret), cipher.final(), cipher.getAuthTag()]);
    return Buffer.concat([nonce, body]);
  }

  unwrap(wrapped: Uint8Array, aad: Uint8Array): Buffer {
    const where = `development key file ${this.path}`;
    const { nonce, body } = splitWrapped(wrapped, where);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.live(), nonce);
      decipher.setAAD(aad);
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch (e) {
      if (e instanceof KeyCustodyError) throw e;
      throw unwrapFailed(where);
    }
  }

  async close(): Promise<void> {
    this.key?.fill(0);
    this.key = undefined;
  }
}

/** Opens a development data key file. Call through openDataKey, which enforces development
 * mode. */
export async function openDevDataKeyFile(
  path: string,
  passphrase: string,
): Promise<ApplicationDataKey> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw dataKeyMissing(`file ${path}`);
    throw new KeyCustodyError('KEY_FILE_INVALID', `${path} is not a development data key file`);
  }
  const parsed = devFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeyCustodyError(
      'KEY_FILE_INVALID',
      `${path} is not a valid development data key file: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? ''}`.trim(),
    );
  }
  const f = parsed.data;
  const k = await fileKey(passphrase, f.kdf);
  try {
    const decipher = createDecipheriv('aes-256-gcm', k, Buffer.from(f.cipher.iv, 'base64'));
    decipher.setAAD(devFileAad(f));
    decipher.setAuthTag(Buffer.from(f.cipher.tag, 'base64'));
    const key = Buffer.concat([
      decipher.update(Buffer.from(f.ciphertext, 'base64')),
      decipher.final(),
    ]);
    return new DevFileDataKey(path, key);
  } catch {
    throw new KeyCustodyError(
      'WRONG_PASSPHRASE',
      `cannot decrypt ${path}: wrong passphrase, or the file was altered`,
    );
  } finally {
    k.fill(0);
  }
}

// --- PKCS#11 token -------------------------------------------------------------------------

function findDataKeys(session: graphene.Session): graphene.SecretKey[] {
  const found = session.find({ class: graphene.ObjectClass.SECRET_KEY, label: DATA_KEY_LABEL });
  const keys: graphene.SecretKey[] = [];
  for (let i = 0; i < found.length; i++) keys.push(found.items(i).toType<graphene.SecretKey>());
  return keys;
}

/** What the data key must be in the token; undefined when it is. */
function dataKeyProblem(key: graphene.SecretKey): string | undefined {
  const a = key.getAttribute({
    keyType: null,
    valueLen: null,
    sensitive: null,
    extractable: null,
    encrypt: null,
    decrypt: null,
    token: null,
  });
  if (a.keyType !== graphene.KeyType.AES || a.valueLen !== 32) return 'it is not an AES-256 key';
  if (a.sensitive !== true) return 'it is not marked sensitive';
  if (a.extractable !== false) return 'it is extractable';
  if (a.encrypt !== true || a.decrypt !== true) return 'it may not encrypt and decrypt';
  if (a.token !== true) return 'it is a session object, not a token object';
  return undefined;
}

class Pkcs11DataKey implements ApplicationDataKey {
  readonly kind = 'pkcs11' as const;
  readonly label = DATA_KEY_LABEL;
  private session: graphene.Session | undefined;

  constructor(
    private readonly target: Pkcs11Target,
    session: graphene.Session,
    private readonly key: graphene.SecretKey,
  ) {
    this.session = session;
  }

  private where(): string {
    return `token '${this.target.token}'`;
  }

  private live(): graphene.Session {
    if (!this.session) throw new KeyCustodyError('CLOSED', 'the data key has been closed');
    return this.session;
  }

  private mechanism(nonce: Buffer, aad: Uint8Array): graphene.IAlgorithm {
    return {
      name: 'AES_GCM',
      params: new graphene.AesGcm240Params(nonce, Buffer.from(aad), TAG_BYTES * 8),
    };
  }

  wrap(secret: Uint8Array, aad: Uint8Array): Buffer {
    const session = this.live();
    const nonce = randomBytes(NONCE_BYTES);
    try {
      const body = session
        .createCipher(this.mechanism(nonce, aad), this.key)
        .once(Buffer.from(secret), Buffer.alloc(secret.length + TAG_BYTES + 16));
      return Buffer.concat([nonce, body]);
    } catch (e) {
      throw new KeyCustodyError(
        'TOKEN_ERROR',
        `wrapping with the data key in ${this.where()} failed: ${(e as Error).message}`,
      );
    }
  }

  unwrap(wrapped: Uint8Array, aad: Uint8Array): Buffer {
    const session = this.live();
    const { nonce, body } = splitWrapped(wrapped, this.where());
    try {
      return Buffer.from(
        session
          .createDecipher(this.mechanism(nonce, aad), this.key)
          .once(body, Buffer.alloc(body.length)),
      );
    } catch {
      // Tokens report a failed tag check differently (SoftHSM2: CKR_GENERAL_ERROR).
      throw unwrapFailed(this.where());
    }
  }

  async close(): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    closeSession(this.target, session);
  }
}

/** Opens the data key in the token; DATA_KEY_MISSING when the token has none. */
export function openPkcs11DataKey(target: Pkcs11Target): ApplicationDataKey {
  const session = openSession(target, false);
  try {
    const found = findDataKeys(session);
    if (found.length === 0) throw dataKeyMissing(`token '${target.token}'`);
    if (found.length > 1)
      throw new KeyCustodyError(
        'TOKEN_ERROR',
        `${found.length} keys are labelled ${DATA_KEY_LABEL} in token '${target.token}'; remove the duplicates`,
      );
    const key = found[0]!;
    const problem = dataKeyProblem(key);
    if (problem)
      throw new KeyCustodyError(
        'KEY_NOT_PROTECTED',
        `refusing to use ${DATA_KEY_LABEL} in token '${target.token}': ${problem}`,
      );
    return new Pkcs11DataKey({ module: target.module, token: target.token, pin: '' }, session, key);
  } catch (e) {
    closeSession(target, session);
    throw e;
  }
}

/** Generates the data key inside the token (it never exists outside it). Refuses when the token
 * already holds one. */
export function createPkcs11DataKey(target: Pkcs11Target): DataKeyInfo {
  const session = openSession(target, true);
  try {
    if (findDataKeys(session).length > 0)
      throw new KeyCustodyError(
        'KEY_ALREADY_EXISTS',
        `token '${target.token}' already holds ${DATA_KEY_LABEL}: replacing it would make every queued application unreadable`,
      );
    const key = session.generateKey(graphene.KeyGenMechanism.AES, {
      class: graphene.ObjectClass.SECRET_KEY,
      keyType: graphene.KeyType.AES,
      valueLen: 32,
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      modifiable: false,
      encrypt: true,
      decrypt: true,
      sign: false,
      verify: false,
      wrap: false,
      unwrap: false,
      derive: false,
      label: DATA_KEY_LABEL,
      id: Buffer.from(DATA_KEY_LABEL, 'utf8'),
    });
    const problem = dataKeyProblem(key);
    if (problem) {
      session.destroy(key);
      throw new KeyCustodyError(
        'TOKEN_ERROR',
        `token '${target.token}' did not create ${DATA_KEY_LABEL} as asked (${problem}); nothing was kept`,
      );
    }
    return { kind: 'pkcs11', label: DATA_KEY_LABEL, where: `token '${target.token}'` };
  } finally {
    closeSession(target, session);
  }
}

// --- the station's configured custody --------------------------------------------------------

function dataKeyMissing(where: string): KeyCustodyError {
  return new KeyCustodyError(
    'DATA_KEY_MISSING',
    `this station has no application data key (looked in ${where}): an admin creates it with 'station keys data-key create --user <admin>'`,
  );
}

function resolveSecret(
  config: KeyCustodyConfig,
  options: OpenCustodyOptions,
): { secret: string; development: boolean } {
  const parsed = keyCustodyConfigSchema.safeParse(config);
  if (!parsed.success)
    throw new KeyCustodyError('CONFIG_INVALID', 'the key custody configuration is invalid');
  const env = options.env ?? process.env;
  const name = config.kind === 'pkcs11' ? config.pinEnv : config.passphraseEnv;
  const secret = options.secret ?? env[name];
  const development = options.development ?? isDevelopmentMode(env);
  if (config.kind === 'dev-file' && !development)
    throw new KeyCustodyError(
      'DEVELOPMENT_ONLY',
      'refusing the development data key: this station is not in development mode (STATION_MODE=development); a production station keeps its data key in a PKCS#11 token',
    );
  if (secret === undefined || secret === '')
    throw new KeyCustodyError(
      'SECRET_MISSING',
      `the ${config.kind === 'pkcs11' ? `PIN of token '${config.token}'` : 'passphrase of the development key file'} is missing: set the environment variable ${name}`,
    );
  return { secret, development };
}

/** Opens the data key of the station whose custody is `config` and data directory `dataDir`:
 * the token's key, or `<dataDir>/dev-data-key.json` in development mode. */
export async function openDataKey(
  config: KeyCustodyConfig,
  dataDir: string,
  options: OpenCustodyOptions = {},
): Promise<ApplicationDataKey> {
  const { secret } = resolveSecret(config, options);
  if (config.kind === 'pkcs11')
    return openPkcs11DataKey({ module: config.module, token: config.token, pin: secret });
  return openDevDataKeyFile(join(dataDir, DEV_DATA_KEY_FILE), secret);
}

/** Creates the data key where `config` says the station's keys live. */
export async function createDataKey(
  config: KeyCustodyConfig,
  dataDir: string,
  options: OpenCustodyOptions & { scryptN?: number } = {},
): Promise<DataKeyInfo> {
  const { secret } = resolveSecret(config, options);
  if (config.kind === 'pkcs11')
    return createPkcs11DataKey({ module: config.module, token: config.token, pin: secret });
  return createDevDataKeyFile(join(dataDir, DEV_DATA_KEY_FILE), secret, {
    scryptN: options.scryptN,
  });
}
