import { createCipheriv } from 'node:crypto';
import type { ChipIdentity, ChipTransportKeys } from '../../mrtd/transport-keys.ts';
import { validateChipIdentity, validateMasterKey } from '../../mrtd/transport-keys.ts';
import { KeyCustodyError } from './errors.ts';

export type { ChipIdentity, ChipTransportKeys };

/** What the custody knows about one stored master key: never its bytes. */
export interface TransportKeyInfo {
  agency: string;
  keyVersion: number;
  /** `transport/<agency>/v<keyVersion>`: the PKCS#11 object label. */
  label: string;
  /** Key check value (hex): first 3 bytes of AES-ECB(master, 16 zero bytes), as PKCS#11 defines
   * CKA_CHECK_VALUE. Public by design: it lets a custodian compare with the supplier's form. */
  kcv: string | null;
}

/**
 * Each agency's transport master keys (AES, one per key version) behind one interface. The
 * per-chip SCP03 static keys are diversified from the master and the chip's identity
 * (mrtd/transport-keys.ts, docs/key-custody.md).
 */
export interface TransportKeyCustody {
  /** Which custody this is, for diagnostics: `pkcs11` or `dev-file`. */
  readonly kind: 'pkcs11' | 'dev-file';
  /** Diversified SCP03 static keys (ENC, MAC, DEK; 16 bytes each) for one chip. Rejects with
   * KeyCustodyError('UNKNOWN_TRANSPORT_KEY') when no master exists for agency/keyVersion. */
  chipKeys(agency: string, keyVersion: number, chip: ChipIdentity): Promise<ChipTransportKeys>;
  /** Whether a master key exists for this agency and key version. */
  has(agency: string, keyVersion: number): Promise<boolean>;
  /** The stored master keys (agency, version, label, KCV), sorted by agency then version. */
  list(): Promise<TransportKeyInfo[]>;
  /** Releases the token session or wipes the in-memory keys. Idempotent. */
  close(): Promise<void>;
}

/**
 * The station's PIN pepper key (docs/key-custody.md): an AES-256 key that only computes
 * AES-CMAC over PIN hashes, so the database alone cannot check a PIN guess. Its label in a
 * PKCS#11 token; the development key file holds one under the same name.
 */
export const PIN_PEPPER_LABEL = 'station/pin-pepper';

/** The pepper as station/users.ts uses it: a MAC under a key that stays in custody. */
export interface CustodyPinPepper {
  readonly label: string;
  mac(data: Uint8Array): Buffer;
}

const AGENCY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

/** Throws KeyCustodyError('INVALID_INPUT') unless `agency` is a valid agency code. */
export function checkAgency(agency: string): void {
  if (typeof agency !== 'string' || !AGENCY.test(agency)) {
    throw new KeyCustodyError(
      'INVALID_INPUT',
      `agency code ${JSON.stringify(agency)} is not valid: use 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
}

/** Throws KeyCustodyError('INVALID_INPUT') unless `keyVersion` is an integer 1-255 (one byte,
 * the SCP03 key version number). */
export function checkKeyVersion(keyVersion: number): void {
  if (!Number.isInteger(keyVersion) || keyVersion < 1 || keyVersion > 255) {
    throw new KeyCustodyError(
      'INVALID_INPUT',
      `key version ${String(keyVersion)} is not valid: use an integer from 1 to 255`,
    );
  }
}

/** Validates a chip identity, turning the RangeError into a KeyCustodyError. */
export function checkChip(chip: ChipIdentity): void {
  try {
    validateChipIdentity(chip);
  } catch (e) {
    throw new KeyCustodyError('INVALID_INPUT', (e as Error).message);
  }
}

/** Validates a master key's length, turning the RangeError into a KeyCustodyError. */
export function checkMasterKey(key: Uint8Array): void {
  try {
    validateMasterKey(key);
  } catch (e) {
    throw new KeyCustodyError('INVALID_INPUT', (e as Error).message);
  }
}

/** The token label of an agency's master key for one key version. */
export function transportKeyLabel(agency: string, keyVersion: number): string {
  checkAgency(agency);
  checkKeyVersion(keyVersion);
  return `transport/${agency}/v${keyVersion}`;
}

/** Parses a label made by transportKeyLabel; undefined for any other label. */
export function parseTransportKeyLabel(
  label: string,
): { agency: string; keyVersion: number } | undefined {
  const m = /^transport\/([^/]+)\/v([1-9][0-9]{0,2})$/.exec(label);
  if (!m) return undefined;
  const agency = m[1]!;
  const keyVersion = Number(m[2]);
  if (!AGENCY.test(agency) || keyVersion > 255) return undefined;
  return { agency, keyVersion };
}

/** The PKCS#11 key check value of an AES key: first 3 bytes of AES-ECB(key, 0^16), in hex. */
export function keyCheckValue(key: Uint8Array): string {
  checkMasterKey(key);
  const ecb = createCipheriv(`aes-${key.length * 8}-ecb`, key, null).setAutoPadding(false);
  const block = Buffer.concat([ecb.update(Buffer.alloc(16)), ecb.final()]);
  return block.subarray(0, 3).toString('hex');
}

export function unknownKey(agency: string, keyVersion: number, where: string): KeyCustodyError {
  return new KeyCustodyError(
    'UNKNOWN_TRANSPORT_KEY',
    `no transport master key for agency ${agency}, key version ${keyVersion} in ${where}`,
  );
}

export function sortInfos(infos: TransportKeyInfo[]): TransportKeyInfo[] {
  return infos.sort((a, b) =>
    a.agency === b.agency ? a.keyVersion - b.keyVersion : a.agency < b.agency ? -1 : 1,
  );
}
