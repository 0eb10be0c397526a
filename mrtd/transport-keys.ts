import { aesCmac } from './cmac.ts';

/**
 * Per-chip transport keys: the SCP03 static keys (ENC, MAC, DEK) of one chip, diversified from
 * the issuing agency's transport master key and the chip's identity.
 *
 * The derivation is NIST SP 800-108 KDF in counter mode with AES-CMAC (RFC 4493) as the PRF,
 * one 128-bit output block per key, so each key is one CMAC over the derivation data below
 * (see docs/key-custody.md for the byte layout and a worked example):
 *
 *   [i]_1 = 01 || Label (12 ASCII bytes) || 00 || Context || [L]_2 = 0080
 *   Context = [len(chipSerial)]_1 || chipSerial (ASCII) || [len(chipUid)]_1 || chipUid
 *   Label   = "PERSO-TK-ENC" | "PERSO-TK-MAC" | "PERSO-TK-DEK"
 *
 * A PKCS#11 token computes the same CMAC with CKM_AES_CMAC inside the token, so software and
 * token custody derive identical keys from the same master.
 */

/** The identity of one chip as read from its pre-personalization record and anticollision. */
export interface ChipIdentity {
  /** The chip serial from the pre-personalization record (printable ASCII, 1-64 characters). */
  chipSerial: string;
  /** The chip's UID from ISO/IEC 14443 anticollision (1-32 bytes). */
  chipUid: Uint8Array;
}

/** The three SCP03 static keys of one chip, 16 bytes each. */
export interface ChipTransportKeys {
  enc: Buffer;
  mac: Buffer;
  dek: Buffer;
}

export type TransportKeyRole = keyof ChipTransportKeys;

export const TRANSPORT_KEY_ROLES: readonly TransportKeyRole[] = ['enc', 'mac', 'dek'];

/** The SP 800-108 Label for each derived key: 12 ASCII bytes. */
export const TRANSPORT_KEY_LABELS: Readonly<Record<TransportKeyRole, string>> = {
  enc: 'PERSO-TK-ENC',
  mac: 'PERSO-TK-MAC',
  dek: 'PERSO-TK-DEK',
};

const MAX_SERIAL = 64;
const MAX_UID = 32;
/** Output length L of each derived key in bits, encoded as [L]_2. */
const OUTPUT_BITS = 128;

/** Throws a RangeError naming what is wrong with a chip identity; returns the serial's bytes. */
export function validateChipIdentity(chip: ChipIdentity): void {
  const { chipSerial, chipUid } = chip;
  if (typeof chipSerial !== 'string' || chipSerial.length === 0) {
    throw new RangeError('chip serial is empty');
  }
  if (chipSerial.length > MAX_SERIAL) {
    throw new RangeError(
      `chip serial is ${chipSerial.length} characters long; at most ${MAX_SERIAL} are allowed`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(chipSerial)) {
    throw new RangeError('chip serial must be printable ASCII without spaces (bytes 0x21-0x7E)');
  }
  if (!(chipUid instanceof Uint8Array) || chipUid.length === 0) {
    throw new RangeError('chip UID is empty');
  }
  if (chipUid.length > MAX_UID) {
    throw new RangeError(
      `chip UID is ${chipUid.length} bytes long; at most ${MAX_UID} are allowed`,
    );
  }
}

/**
 * The SP 800-108 counter-mode input for one of a chip's keys: the exact bytes that are
 * AES-CMAC'ed under the master key (in software or inside a PKCS#11 token).
 */
export function transportKeyDerivationData(role: TransportKeyRole, chip: ChipIdentity): Buffer {
  validateChipIdentity(chip);
  const label = TRANSPORT_KEY_LABELS[role];
  if (label === undefined) throw new RangeError(`unknown transport key role ${String(role)}`);
  const serial = Buffer.from(chip.chipSerial, 'ascii');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(OUTPUT_BITS);
  return Buffer.concat([
    Buffer.from([0x01]), // [i]_1: the counter; one block of output needs only i = 1
    Buffer.from(label, 'ascii'),
    Buffer.from([0x00]), // separator between Label and Context
    Buffer.from([serial.length]),
    serial,
    Buffer.from([chip.chipUid.length]),
    Buffer.from(chip.chipUid),
    length, // [L]_2
  ]);
}

/** Throws unless `master` is an AES key (16, 24 or 32 bytes). */
export function validateMasterKey(master: Uint8Array): void {
  if (!(master instanceof Uint8Array) || ![16, 24, 32].includes(master.length)) {
    throw new RangeError(
      `transport master key must be an AES key of 16, 24 or 32 bytes, got ${
        master instanceof Uint8Array ? master.length : typeof master
      }`,
    );
  }
}

/** Software diversification: the chip's ENC/MAC/DEK keys from the agency's master key. */
export function diversifyTransportKeys(master: Uint8Array, chip: ChipIdentity): ChipTransportKeys {
  validateMasterKey(master);
  validateChipIdentity(chip);
  return {
    enc: aesCmac(master, transportKeyDerivationData('enc', chip)),
    mac: aesCmac(master, transportKeyDerivationData('mac', chip)),
    dek: aesCmac(master, transportKeyDerivationData('dek', chip)),
  };
}
