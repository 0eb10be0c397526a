import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { readBoundedText } from '../../contracts/bounded-read.ts';
import { parseStrictJson } from '../../contracts/strict-json.ts';
import {
  ensurePrivateMode,
  PRIVATE_FILE_MODE,
  PrivateFileModeError,
  writeFileAtomically,
} from '../../db/private-files.ts';
import {
  diversifyTransportKeys,
  type ChipIdentity,
  type ChipTransportKeys,
} from '../../mrtd/transport-keys.ts';
import { aesCmac } from '../../mrtd/cmac.ts';
import {
  checkChip,
  checkMasterKey,
  keyCheckValue,
  PIN_PEPPER_LABEL,
  type CustodyPinPepper,
  sortInfos,
  transportKeyLabel,
  unknownKey,
  type TransportKeyCustody,
  type TransportKeyInfo,
} from './custody.ts';
import { KeyCustodyError } from './errors.ts';

/**
 * The development key file: transport master keys encrypted under a passphrase
 * (scrypt -> AES-256-GCM). For development and simulator scenarios only: the custody factory
 * refuses it unless the station runs in development mode. Format (JSON):
 *
 *   { "format": "perso-station/dev-transport-keys", "version": 1,
 *     "kdf": { "name": "scrypt", "N": 32768, "r": 8, "p": 1, "salt": <base64, 16 bytes> },
 *     "cipher": { "name": "aes-256-gcm", "iv": <base64, 12 bytes>, "tag": <base64, 16 bytes> },
 *     "ciphertext": <base64> }
 *
 * The GCM additional data is the file's header (everything but iv, tag and ciphertext) as
 * canonical JSON, so a change to any parameter is detected. The plaintext is JSON
 * `{ "pinPepper"?: <hex, 32 bytes>, "keys": [{ "agency", "keyVersion", "key": <hex> }] }`.
 */

export const DEV_KEY_FILE_FORMAT = 'perso-station/dev-transport-keys';

/** One master key as stored in (and given to) the development key file. */
export interface DevKeyEntry {
  agency: string;
  keyVersion: number;
  key: Uint8Array;
}

const DEFAULT_N = 1 << 15;
const MIN_N = 1 << 14;
const MAX_N = 1 << 20;

const b64 = (len: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]+=*$/)
    .refine((s) => Buffer.from(s, 'base64').length === len, `must be ${len} bytes`);

// Strict: the file is read from disk, so an unknown key is an error, never ignored.
const fileSchema = z.strictObject({
  format: z.literal(DEV_KEY_FILE_FORMAT),
  version: z.literal(1),
  kdf: z.strictObject({
    name: z.literal('scrypt'),
    N: z
      .number()
      .int()
      .min(MIN_N)
      .max(MAX_N)
      .refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    salt: b64(16),
  }),
  cipher: z.strictObject({ name: z.literal('aes-256-gcm'), iv: b64(12), tag: b64(16) }),
  ciphertext: z.string().regex(/^[A-Za-z0-9+/]*=*$/),
});
type DevKeyFile = z.infer<typeof fileSchema>;

const plaintextSchema = z.object({
  /** The station's PIN pepper key (hex, AES-256), when one was added. */
  pinPepper: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  keys: z.array(
    z.object({
      agency: z.string(),
      keyVersion: z.number(),
      key: z.string().regex(/^([0-9a-f]{32}|[0-9a-f]{48}|[0-9a-f]{64})$/),
    }),
  ),
});

function aad(file: Pick<DevKeyFile, 'format' | 'version' | 'kdf'>): Buffer {
  const { name, N, r, p, salt } = file.kdf;
  return Buffer.from(
    JSON.stringify({
      format: file.format,
      version: file.version,
      kdf: { name, N, r, p, salt },
      cipher: 'aes-256-gcm',
    }),
  );
}

function deriveFileKey(passphrase: string, kdf: DevKeyFile['kdf']): Promise<Buffer> {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    return Promise.reject(
      new KeyCustodyError('SECRET_MISSING', 'no passphrase given for the development key file'),
    );
  }
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

function checkEntries(entries: readonly DevKeyEntry[]): void {
  const seen = new Set<string>();
  for (const e of entries) {
    const label = transportKeyLabel(e.agency, e.keyVersion);
    checkMasterKey(e.key);
    if (seen.has(label)) {
      throw new KeyCustodyError('KEY_ALREADY_EXISTS', `the key file already holds ${label}`);
    }
    seen.add(label);
  }
}

async function encrypt(
  passphrase: string,
  entries: readonly DevKeyEntry[],
  n: number,
  pinPepper?: Uint8Array,
): Promise<DevKeyFile> {
  const header: Pick<DevKeyFile, 'format' | 'version' | 'kdf'> = {
    format: DEV_KEY_FILE_FORMAT,
    version: 1,
    kdf: { name: 'scrypt', N: n, r: 8, p: 1, salt: randomBytes(16).toString('base64') },
  };
  const fileKey = await deriveFileKey(passphrase, header.kdf);
  const iv = randomBytes(12);
  const plaintext = Buffer.from(
    JSON.stringify({
      ...(pinPepper ? { pinPepper: Buffer.from(pinPepper).toString('hex') } : {}),
      keys: entries.map((e) => ({
        agency: e.agency,
        keyVersion: e.keyVersion,
        key: Buffer.from(e.key).toString('hex'),
      })),
    }),
  );
  try {
    const cipher = createCipheriv('aes-256-gcm', fileKey, iv);
    cipher.setAAD(aad(header));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      ...header,
      cipher: {
        name: 'aes-256-gcm',
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
      },
      ciphertext: ciphertext.toString('base64'),
    };
  } finally {
    fileKey.fill(0);
    plaintext.fill(0);
  }
}

async function decrypt(
  path: string,
  passphrase: string,
): Promise<{ entries: DevKeyEntry[]; n: number; pinPepper?: Buffer }> {
  let raw: string;
  try {
    ensurePrivateMode(path, PRIVATE_FILE_MODE, 'the development key file');
    // A key file holds a few hundred keys at most: 1 MiB, checked before reading.
    raw = readBoundedText(path, 1024 * 1024, `development key file ${path}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KeyCustodyError('KEY_FILE_MISSING', `development key file ${path} does not exist`);
    }
    if (e instanceof PrivateFileModeError) throw new KeyCustodyError('KEY_FILE_INVALID', e.message);
    throw new KeyCustodyError('KEY_FILE_INVALID', `cannot read ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = parseStrictJson(raw);
  } catch (e) {
    throw new KeyCustodyError(
      'KEY_FILE_INVALID',
      `${path} is not a development key file (${(e as Error).message})`,
    );
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeyCustodyError(
      'KEY_FILE_INVALID',
      `${path} is not a valid development key file: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? ''}`.trim(),
    );
  }
  const file = parsed.data;
  const fileKey = await deriveFileKey(passphrase, file.kdf);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      fileKey,
      Buffer.from(file.cipher.iv, 'base64'),
    );
    decipher.setAAD(aad(file));
    decipher.setAuthTag(Buffer.from(file.cipher.tag, 'base64'));
    plaintext = Buffer.concat([
      decipher.update(Buffer.from(file.ciphertext, 'base64')),
      decipher.final(),
    ]);
  } catch {
    throw new KeyCustodyError(
      'WRONG_PASSPHRASE',
      `cannot decrypt ${path}: wrong passphrase, or the file was altered`,
    );
  } finally {
    fileKey.fill(0);
  }
  try {
    const body = plaintextSchema.safeParse(JSON.parse(plaintext.toString('utf8')));
    if (!body.success) {
      throw new KeyCustodyError('KEY_FILE_INVALID', `${path} decrypts to an unexpected structure`);
    }
    const entries = body.data.keys.map((k) => ({
      agency: k.agency,
      keyVersion: k.keyVersion,
      key: Buffer.from(k.key, 'hex'),
    }));
    try {
      checkEntries(entries);
    } catch (e) {
      wipe(entries);
      throw e;
    }
    const pinPepper = body.data.pinPepper;
    return {
      entries,
      n: file.kdf.N,
      ...(pinPepper ? { pinPepper: Buffer.from(pinPepper, 'hex') } : {}),
    };
  } finally {
    plaintext.fill(0);
  }
}

/** Writes the file atomically and 0600; a new file must not exist yet (checked by link()). */
function writeKeyFile(path: string, file: DevKeyFile, exclusive: boolean): void {
  try {
    writeFileAtomically(path, JSON.stringify(file, null, 2) + '\n', { exclusive });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyCustodyError(
        'KEY_FILE_EXISTS',
        `${path} already exists; add keys to it instead`,
      );
    }
    throw e;
  }
}

/** Options for writing a development key file. */
export interface DevKeyFileWriteOptions {
  /** scrypt cost N (power of two, 2^14..2^20); default 2^15. */
  scryptN?: number;
}

/** Creates a new development key file holding `entries`; refuses to overwrite a file. */
export async function createDevKeyFile(
  path: string,
  passphrase: string,
  entries: readonly DevKeyEntry[],
  options: DevKeyFileWriteOptions = {},
): Promise<TransportKeyInfo[]> {
  checkEntries(entries);
  if (existsSync(path)) {
    throw new KeyCustodyError('KEY_FILE_EXISTS', `${path} already exists; add keys to it instead`);
  }
  const file = await encrypt(passphrase, entries, options.scryptN ?? DEFAULT_N);
  writeKeyFile(path, file, true);
  return infosOf(entries);
}

/** Adds master keys to an existing development key file (re-encrypted with a fresh salt and IV).
 * Refuses a key whose agency and version the file already holds. */
export async function addToDevKeyFile(
  path: string,
  passphrase: string,
  entries: readonly DevKeyEntry[],
): Promise<TransportKeyInfo[]> {
  const current = await decrypt(path, passphrase);
  try {
    const all = [...current.entries, ...entries];
    checkEntries(all);
    writeKeyFile(path, await encrypt(passphrase, all, current.n, current.pinPepper), false);
    return infosOf(all);
  } finally {
    wipe(current.entries);
    current.pinPepper?.fill(0);
  }
}

/**
 * Adds a random PIN pepper key (AES-256) to an existing development key file. Refuses if the
 * file has one: replacing it would make every stored PIN unusable.
 */
export async function addPinPepperToDevKeyFile(path: string, passphrase: string): Promise<void> {
  const current = await decrypt(path, passphrase);
  const pepper = randomBytes(32);
  try {
    if (current.pinPepper)
      throw new KeyCustodyError(
        'KEY_ALREADY_EXISTS',
        `${path} already holds ${PIN_PEPPER_LABEL}; the stored PINs depend on it`,
      );
    writeKeyFile(path, await encrypt(passphrase, current.entries, current.n, pepper), false);
  } finally {
    wipe(current.entries);
    current.pinPepper?.fill(0);
    pepper.fill(0);
  }
}

/** Overwrites decrypted master keys with zeros. */
function wipe(entries: readonly DevKeyEntry[]): void {
  for (const e of entries) e.key.fill(0);
}

function infosOf(entries: readonly DevKeyEntry[]): TransportKeyInfo[] {
  return sortInfos(
    entries.map((e) => ({
      agency: e.agency,
      keyVersion: e.keyVersion,
      label: transportKeyLabel(e.agency, e.keyVersion),
      kcv: keyCheckValue(e.key),
    })),
  );
}

/**
 * Transport-key custody from a development key file, with diversification in software. It
 * holds the decrypted master keys in the one buffer per key that decryption made (no copies)
 * and overwrites them with zeros on close. What it cannot wipe: the hex text of the decrypted
 * JSON once parsed (immutable JavaScript strings, left to the garbage collector) and the key
 * copies inside OpenSSL's cipher contexts (freed by Node when they are collected).
 */
export class DevFileTransportKeyCustody implements TransportKeyCustody {
  readonly kind = 'dev-file' as const;
  private keys: Map<string, Uint8Array> | undefined;
  private readonly infos: TransportKeyInfo[];

  /** Takes ownership of the entries' key buffers and the pepper: close() zeroes them. */
  private constructor(
    private readonly path: string,
    entries: DevKeyEntry[],
    private pepperKey: Buffer | undefined,
  ) {
    this.infos = infosOf(entries);
    this.keys = new Map(entries.map((e) => [transportKeyLabel(e.agency, e.keyVersion), e.key]));
  }

  /** Decrypts the file. Call only through openTransportKeyCustody, which enforces
   * development mode. */
  static async openUnchecked(
    path: string,
    passphrase: string,
  ): Promise<DevFileTransportKeyCustody> {
    const { entries, pinPepper } = await decrypt(path, passphrase);
    return new DevFileTransportKeyCustody(path, entries, pinPepper);
  }

  private live(): Map<string, Uint8Array> {
    if (!this.keys) throw new KeyCustodyError('CLOSED', 'the key custody has been closed');
    return this.keys;
  }

  async chipKeys(
    agency: string,
    keyVersion: number,
    chip: ChipIdentity,
  ): Promise<ChipTransportKeys> {
    const label = transportKeyLabel(agency, keyVersion);
    checkChip(chip);
    const master = this.live().get(label);
    if (!master) throw unknownKey(agency, keyVersion, `development key file ${this.path}`);
    return diversifyTransportKeys(master, chip);
  }

  async has(agency: string, keyVersion: number): Promise<boolean> {
    return this.live().has(transportKeyLabel(agency, keyVersion));
  }

  async list(): Promise<TransportKeyInfo[]> {
    this.live();
    return this.infos.map((i) => ({ ...i }));
  }

  /** The file's PIN pepper (AES-CMAC in software), undefined when it has none. */
  pinPepper(): CustodyPinPepper | undefined {
    this.live();
    if (!this.pepperKey) return undefined;
    return {
      label: PIN_PEPPER_LABEL,
      mac: (data) => {
        this.live();
        return aesCmac(this.pepperKey!, data);
      },
    };
  }

  async close(): Promise<void> {
    if (!this.keys) return;
    for (const key of this.keys.values()) key.fill(0);
    this.keys = undefined;
    this.pepperKey?.fill(0);
    this.pepperKey = undefined;
  }
}
