/**
 * How an application's personal data is sealed at rest (docs/applications.md): each application
 * has its own random AES-256 data key, wrapped by the custody's data key; each field is
 * AES-256-GCM under that key with a fresh 96-bit nonce. The additional authenticated data names
 * the application id (and the field), so a ciphertext or a wrapped key copied to another row,
 * or to another field of the same row, fails to decrypt instead of showing someone else's data.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { ApplicationDataKey } from '../keys/data-key.ts';
import { StationError } from '../errors.ts';

/** The sealed fields of an application: its data as JSON, and its images. */
export const SEALED_FIELDS = ['details', 'face', 'signature'] as const;
export type SealedField = (typeof SEALED_FIELDS)[number];

const FORMAT = 'perso-station/application/v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** Sealed data that does not decrypt: altered, moved between rows, or sealed under another key. */
export class ApplicationIntegrityError extends StationError {
  constructor(
    readonly applicationId: number,
    readonly what: SealedField | 'key',
  ) {
    super(
      what === 'key'
        ? `application ${applicationId}: its data key does not unwrap (altered, moved from another application, or wrapped under another custody key); its personal data cannot be read`
        : `application ${applicationId}: the sealed ${what} does not decrypt (altered, moved from another application or field, or sealed under another key)`,
      'application_integrity',
    );
    this.name = 'ApplicationIntegrityError';
  }
}

const keyAad = (id: number, label: string): Buffer =>
  Buffer.from(`${FORMAT}|key|${id}|${label}`, 'utf8');
const fieldAad = (id: number, field: SealedField): Buffer =>
  Buffer.from(`${FORMAT}|field|${id}|${field}`, 'utf8');

/** A fresh per-application key and its wrap under the custody key. Zero `key` after use. */
export function newApplicationKey(
  custody: ApplicationDataKey,
  id: number,
): { key: Buffer; wrapped: Buffer } {
  const key = randomBytes(32);
  return { key, wrapped: custody.wrap(key, keyAad(id, custody.label)) };
}

/** Unwraps an application's key; ApplicationIntegrityError when it does not belong to `id`. */
export function unwrapApplicationKey(
  custody: ApplicationDataKey,
  id: number,
  label: string,
  wrapped: Uint8Array,
): Buffer {
  if (label !== custody.label) throw new ApplicationIntegrityError(id, 'key');
  try {
    return custody.unwrap(wrapped, keyAad(id, label));
  } catch {
    throw new ApplicationIntegrityError(id, 'key');
  }
}

/** nonce (12) || ciphertext || tag (16). */
export function sealField(
  key: Buffer,
  id: number,
  field: SealedField,
  plaintext: Uint8Array,
): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(fieldAad(id, field));
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

export function openField(key: Buffer, id: number, field: SealedField, sealed: Buffer): Buffer {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new ApplicationIntegrityError(id, field);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES));
    decipher.setAAD(fieldAad(id, field));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw new ApplicationIntegrityError(id, field);
  }
}
