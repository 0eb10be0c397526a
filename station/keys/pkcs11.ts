import * as graphene from 'graphene-pk11';
import {
  TRANSPORT_KEY_ROLES,
  transportKeyDerivationData,
  type ChipIdentity,
  type ChipTransportKeys,
} from '../../mrtd/transport-keys.ts';
import {
  checkChip,
  checkMasterKey,
  keyCheckValue,
  PIN_PEPPER_LABEL,
  type CustodyPinPepper,
  parseTransportKeyLabel,
  sortInfos,
  transportKeyLabel,
  unknownKey,
  type TransportKeyCustody,
  type TransportKeyInfo,
} from './custody.ts';
import { KeyCustodyError } from './errors.ts';

/** Where a PKCS#11 custody lives. The PIN is passed in, never read from here by logging code. */
export interface Pkcs11Target {
  /** Path of the PKCS#11 module (.so / .dll), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  /** The token label. */
  token: string;
  /** The user PIN. */
  pin: string;
}

// One loaded and initialised module per path in this process, shared and reference-counted:
// C_Initialize/C_Finalize are process-wide in PKCS#11.
const modules = new Map<string, { module: graphene.Module; refs: number }>();

function acquireModule(path: string): graphene.Module {
  const known = modules.get(path);
  if (known) {
    known.refs++;
    return known.module;
  }
  let module: graphene.Module;
  try {
    module = graphene.Module.load(path, 'transport-keys');
    module.initialize();
  } catch (e) {
    throw new KeyCustodyError(
      'MODULE_LOAD_FAILED',
      `cannot load the PKCS#11 module ${path}: ${(e as Error).message}`,
    );
  }
  modules.set(path, { module, refs: 1 });
  return module;
}

function releaseModule(path: string): void {
  const known = modules.get(path);
  if (!known) return;
  if (--known.refs > 0) return;
  modules.delete(path);
  try {
    known.module.finalize();
  } finally {
    known.module.close();
  }
}

function tokenError(what: string, e: unknown): KeyCustodyError {
  if (e instanceof KeyCustodyError) return e;
  return new KeyCustodyError('TOKEN_ERROR', `${what}: ${(e as Error).message}`);
}

/** Opens a logged-in session on the token labelled `target.token` (also used by audit-key.ts
 * and data-key.ts). */
export function openSession(target: Pkcs11Target, readWrite: boolean): graphene.Session {
  if (typeof target.pin !== 'string' || target.pin.length === 0) {
    throw new KeyCustodyError('SECRET_MISSING', `no PIN given for token '${target.token}'`);
  }
  const module = acquireModule(target.module);
  try {
    const slots = module.getSlots(true);
    const labels: string[] = [];
    let slot: graphene.Slot | undefined;
    for (let i = 0; i < slots.length; i++) {
      const candidate = slots.items(i);
      const label = candidate.getToken().label.trim();
      labels.push(label);
      if (label === target.token) {
        slot = candidate;
        break;
      }
    }
    if (!slot) {
      throw new KeyCustodyError(
        'TOKEN_NOT_FOUND',
        `no token labelled '${target.token}' in ${target.module} (tokens present: ${
          labels.length ? labels.map((l) => `'${l}'`).join(', ') : 'none'
        })`,
      );
    }
    const flags =
      graphene.SessionFlag.SERIAL_SESSION | (readWrite ? graphene.SessionFlag.RW_SESSION : 0);
    const session = slot.open(flags);
    try {
      session.login(target.pin, graphene.UserType.USER);
    } catch (e) {
      const message = (e as Error).message;
      if (!/CKR_USER_ALREADY_LOGGED_IN/.test(message)) {
        session.close();
        if (/CKR_PIN_INCORRECT|CKR_PIN_LEN_RANGE|CKR_PIN_INVALID/.test(message)) {
          throw new KeyCustodyError(
            'PIN_REFUSED',
            `token '${target.token}' refused the PIN (${/CKR_\w+/.exec(message)?.[0]})`,
          );
        }
        if (/CKR_PIN_LOCKED/.test(message)) {
          throw new KeyCustodyError(
            'PIN_REFUSED',
            `the user PIN of token '${target.token}' is locked; ask the security officer to reset it`,
          );
        }
        throw tokenError(`cannot log in to token '${target.token}'`, e);
      }
    }
    return session;
  } catch (e) {
    releaseModule(target.module);
    throw tokenError(`cannot open token '${target.token}'`, e);
  }
}

export function closeSession(target: Pkcs11Target, session: graphene.Session): void {
  try {
    session.close();
  } finally {
    releaseModule(target.module);
  }
}

function findSecretKeys(session: graphene.Session, label?: string): graphene.SecretKey[] {
  const template: graphene.ITemplate = { class: graphene.ObjectClass.SECRET_KEY };
  if (label !== undefined) template.label = label;
  const found = session.find(template);
  const keys: graphene.SecretKey[] = [];
  for (let i = 0; i < found.length; i++) keys.push(found.items(i).toType<graphene.SecretKey>());
  return keys;
}

function readKcv(key: graphene.SecretKey): string | null {
  try {
    const value = key.getAttribute({ checkValue: null }).checkValue as Buffer | null | undefined;
    return value && value.length > 0 ? Buffer.from(value).subarray(0, 3).toString('hex') : null;
  } catch {
    return null; // CKA_CHECK_VALUE is optional (PKCS#11 2.40+)
  }
}

/**
 * Uses a master key must not allow: each would let the PIN holder do more than compute a chip's
 * CMAC (derive an extractable key from it, encrypt or decrypt with it, wrap a key under it, or
 * unwrap a chosen key into the token under it).
 */
const FORBIDDEN_USES = [
  ['derive', 'CKA_DERIVE'],
  ['wrap', 'CKA_WRAP'],
  ['unwrap', 'CKA_UNWRAP'],
  ['encrypt', 'CKA_ENCRYPT'],
  ['decrypt', 'CKA_DECRYPT'],
] as const;

/** The attributes a transport master key must have in the token. */
function protectionProblem(key: graphene.SecretKey): string | undefined {
  const a = key.getAttribute({
    keyType: null,
    sensitive: null,
    extractable: null,
    sign: null,
    token: null,
    derive: null,
    wrap: null,
    unwrap: null,
    encrypt: null,
    decrypt: null,
  });
  if (a.keyType !== graphene.KeyType.AES) return 'it is not an AES key';
  if (a.sensitive !== true) return 'it is not marked sensitive';
  if (a.extractable !== false) return 'it is extractable';
  if (a.sign !== true) return 'it may not compute MACs (CKA_SIGN is false)';
  if (a.token !== true) return 'it is a session object, not a token object';
  const allowed = FORBIDDEN_USES.filter(([attr]) => a[attr] !== false).map(([, name]) => name);
  if (allowed.length > 0)
    return `it may be used for more than MACs (${allowed.join(', ')} not false)`;
  return undefined;
}

/**
 * Transport-key custody in a PKCS#11 token. The master keys are token objects (AES,
 * sensitive, not extractable); each chip key is CKM_AES_CMAC over its derivation data, computed
 * inside the token, so a master key never leaves it.
 */
export class Pkcs11TransportKeyCustody implements TransportKeyCustody {
  readonly kind = 'pkcs11' as const;
  private session: graphene.Session | undefined;
  private readonly target: Pkcs11Target;
  private readonly keys = new Map<string, graphene.SecretKey>();

  private constructor(target: Pkcs11Target, session: graphene.Session) {
    this.target = { module: target.module, token: target.token, pin: '' };
    this.session = session;
  }

  /** Opens the token and logs in. The PIN is used once and not kept. */
  static open(target: Pkcs11Target): Pkcs11TransportKeyCustody {
    return new Pkcs11TransportKeyCustody(target, openSession(target, false));
  }

  private where(): string {
    return `token '${this.target.token}'`;
  }

  private live(): graphene.Session {
    if (!this.session) throw new KeyCustodyError('CLOSED', 'the key custody has been closed');
    return this.session;
  }

  private masterKey(agency: string, keyVersion: number): graphene.SecretKey {
    const label = transportKeyLabel(agency, keyVersion);
    const cached = this.keys.get(label);
    if (cached) return cached;
    const found = findSecretKeys(this.live(), label);
    if (found.length === 0) throw unknownKey(agency, keyVersion, this.where());
    if (found.length > 1) {
      throw new KeyCustodyError(
        'TOKEN_ERROR',
        `${found.length} keys are labelled ${label} in ${this.where()}; remove the duplicates`,
      );
    }
    const key = found[0]!;
    const problem = protectionProblem(key);
    if (problem) {
      throw new KeyCustodyError(
        'KEY_NOT_PROTECTED',
        `refusing to use ${label} in ${this.where()}: ${problem}; re-import it with 'station keys import'`,
      );
    }
    this.keys.set(label, key);
    return key;
  }

  async chipKeys(
    agency: string,
    keyVersion: number,
    chip: ChipIdentity,
  ): Promise<ChipTransportKeys> {
    checkChip(chip);
    const key = this.masterKey(agency, keyVersion);
    const session = this.live();
    const out: Partial<ChipTransportKeys> = {};
    try {
      for (const role of TRANSPORT_KEY_ROLES) {
        const mac = session
          .createSign('AES_CMAC', key)
          .once(transportKeyDerivationData(role, chip));
        if (mac.length !== 16) throw new Error(`CKM_AES_CMAC returned ${mac.length} bytes`);
        out[role] = Buffer.from(mac);
      }
    } catch (e) {
      throw tokenError(`diversification in ${this.where()} failed`, e);
    }
    return out as ChipTransportKeys;
  }

  async has(agency: string, keyVersion: number): Promise<boolean> {
    const label = transportKeyLabel(agency, keyVersion);
    if (this.keys.has(label)) return true;
    return findSecretKeys(this.live(), label).length > 0;
  }

  async list(): Promise<TransportKeyInfo[]> {
    const infos: TransportKeyInfo[] = [];
    for (const key of findSecretKeys(this.live())) {
      const label = String(key.getAttribute({ label: null }).label ?? '');
      const parsed = parseTransportKeyLabel(label);
      if (parsed) infos.push({ ...parsed, label, kcv: readKcv(key) });
    }
    return sortInfos(infos);
  }

  /**
   * The token's PIN pepper key (PIN_PEPPER_LABEL), checked like a master key; undefined when
   * the token has none. Its MACs are computed in the token while this custody is open.
   */
  pinPepper(): CustodyPinPepper | undefined {
    const found = findSecretKeys(this.live(), PIN_PEPPER_LABEL);
    if (found.length === 0) return undefined;
    if (found.length > 1)
      throw new KeyCustodyError(
        'TOKEN_ERROR',
        `${found.length} keys are labelled ${PIN_PEPPER_LABEL} in ${this.where()}; remove the duplicates`,
      );
    const key = found[0]!;
    const problem = protectionProblem(key);
    if (problem)
      throw new KeyCustodyError(
        'KEY_NOT_PROTECTED',
        `refusing to use ${PIN_PEPPER_LABEL} in ${this.where()}: ${problem}`,
      );
    return {
      label: PIN_PEPPER_LABEL,
      mac: (data) => {
        try {
          return Buffer.from(this.live().createSign('AES_CMAC', key).once(Buffer.from(data)));
        } catch (e) {
          throw tokenError(`the PIN pepper in ${this.where()} failed`, e);
        }
      },
    };
  }

  async close(): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    this.keys.clear();
    closeSession(this.target, session);
  }
}

/**
 * Provisioning: generates the station's PIN pepper key inside the token (AES-256, sensitive,
 * never extractable, CMAC only: nobody ever sees its value). Refuses if one exists: replacing
 * it would make every stored PIN unusable.
 */
export function createPinPepperKey(target: Pkcs11Target): { label: string } {
  const session = openSession(target, true);
  try {
    if (findSecretKeys(session, PIN_PEPPER_LABEL).length > 0)
      throw new KeyCustodyError(
        'KEY_ALREADY_EXISTS',
        `token '${target.token}' already holds ${PIN_PEPPER_LABEL}; the stored PINs depend on it`,
      );
    const key = session
      .generateKey(graphene.KeyGenMechanism.AES, {
        class: graphene.ObjectClass.SECRET_KEY,
        keyType: graphene.KeyType.AES,
        valueLen: 32,
        token: true,
        private: true,
        sensitive: true,
        extractable: false,
        modifiable: false,
        sign: true,
        verify: false,
        encrypt: false,
        decrypt: false,
        wrap: false,
        unwrap: false,
        derive: false,
        label: PIN_PEPPER_LABEL,
        id: Buffer.from(PIN_PEPPER_LABEL, 'utf8'),
      })
      .toType<graphene.SecretKey>();
    const problem = protectionProblem(key);
    if (problem) {
      session.destroy(key);
      throw new KeyCustodyError(
        'TOKEN_ERROR',
        `token '${target.token}' did not store ${PIN_PEPPER_LABEL} as asked (${problem}); nothing was created`,
      );
    }
    return { label: PIN_PEPPER_LABEL };
  } catch (e) {
    throw tokenError(`cannot create ${PIN_PEPPER_LABEL} in token '${target.token}'`, e);
  } finally {
    closeSession(target, session);
  }
}

/** What importTransportMasterKey reports: never key bytes. */
export interface ImportedKey {
  label: string;
  agency: string;
  keyVersion: number;
  /** Key check value (hex, 3 bytes) computed from the imported key; compare with the supplier's. */
  kcv: string;
}

/**
 * Provisioning: stores an agency's transport master key for one key version in the token as
 * a non-extractable, sensitive AES token object that may only compute MACs. Refuses to replace
 * an existing key (a new key is a new key version).
 */
export async function importTransportMasterKey(
  target: Pkcs11Target,
  entry: { agency: string; keyVersion: number; key: Uint8Array },
): Promise<ImportedKey> {
  const { agency, keyVersion, key } = entry;
  const label = transportKeyLabel(agency, keyVersion);
  checkMasterKey(key);
  const kcv = keyCheckValue(key);
  const session = openSession(target, true);
  try {
    if (findSecretKeys(session, label).length > 0) {
      throw new KeyCustodyError(
        'KEY_ALREADY_EXISTS',
        `token '${target.token}' already holds ${label}; a new master key needs a new key version`,
      );
    }
    const value = Buffer.from(key);
    let created: graphene.SecretKey;
    try {
      created = session
        .create({
          class: graphene.ObjectClass.SECRET_KEY,
          keyType: graphene.KeyType.AES,
          token: true,
          private: true,
          sensitive: true,
          extractable: false,
          modifiable: false,
          sign: true,
          verify: false,
          encrypt: false,
          decrypt: false,
          wrap: false,
          unwrap: false,
          derive: false,
          label,
          id: Buffer.from(label, 'utf8'),
          value,
        })
        .toType<graphene.SecretKey>();
    } finally {
      value.fill(0);
    }
    const problem = protectionProblem(created);
    const tokenKcv = readKcv(created);
    if (problem || (tokenKcv !== null && tokenKcv !== kcv)) {
      session.destroy(created);
      throw new KeyCustodyError(
        'TOKEN_ERROR',
        `token '${target.token}' did not store ${label} as asked (${problem ?? 'check value differs'}); nothing was imported`,
      );
    }
    return { label, agency, keyVersion, kcv };
  } catch (e) {
    throw tokenError(`cannot import ${label} into token '${target.token}'`, e);
  } finally {
    closeSession(target, session);
  }
}
