/**
 * Stock manifests: the signed list of booklets a manufacturer delivers (docs/manifest-format.md).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';
import { readBoundedText } from '../contracts/bounded-read.ts';
import { parseStrictJson, StrictJsonError } from '../contracts/strict-json.ts';

export const MANIFEST_FORMAT = 'perso-station/stock-manifest@1';
export type SignatureAlgorithm = 'Ed25519' | 'ECDSA-P256-SHA256';

const SERIAL = /^[A-Z0-9]{4,20}$/;
const HEX = /^[0-9A-F]+$/;

export const manifestBodySchema = z.strictObject({
  batchId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a batch id of letters, digits, . _ -'),
  agency: z.string().regex(/^[A-Z][A-Z0-9-]{1,39}$/, 'an agency code such as PER-MIGRACIONES'),
  chipProfile: z.string().min(1).max(64),
  stockClass: z.enum(['production', 'test']),
  manufacturer: z.string().min(1).max(200),
  createdAt: z.iso.datetime({ offset: true }),
  booklets: z
    .array(
      z.strictObject({
        serial: z.string().regex(SERIAL, '4-20 upper-case letters and digits'),
        chipSerial: z.string().regex(HEX, 'upper-case hexadecimal').min(8).max(64),
        chipUid: z.string().regex(HEX, 'upper-case hexadecimal').min(8).max(20).nullable(),
      }),
    )
    .min(1, 'at least one booklet')
    .max(100_000, 'at most 100000 booklets per manifest'),
});
export type ManifestBody = z.infer<typeof manifestBodySchema>;

export const manifestSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  body: manifestBodySchema,
  signature: z.strictObject({
    algorithm: z.enum(['Ed25519', 'ECDSA-P256-SHA256']),
    keyId: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits (SHA-256 of the key)'),
    value: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, 'base64'),
  }),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** Canonical JSON: object keys sorted, no white space. What the signature covers. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    if (s === undefined) throw new Error('value is not representable in JSON');
    return s;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** The key id the station uses: SHA-256 of the public key's SubjectPublicKeyInfo DER, hex. */
export function keyIdOf(key: KeyObject | string): string {
  const pub =
    typeof key === 'string'
      ? createPublicKey(key)
      : key.type === 'private'
        ? createPublicKey(key)
        : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** The signature algorithm for a public or private key, or an error naming what it is. */
export function algorithmOf(key: KeyObject): SignatureAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'Ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'ECDSA-P256-SHA256';
  throw new Error(
    `unsupported key type ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : ''}: use Ed25519 or ECDSA P-256`,
  );
}

function signatureInput(body: ManifestBody): Buffer {
  return Buffer.from(`${MANIFEST_FORMAT}\n${canonicalJson(body)}`, 'utf8');
}

/**
 * Signs a manifest body with an Ed25519 or ECDSA P-256 private key (PEM). For the central
 * office's tools, tests and `station dev seed`.
 */
export function signManifest(body: ManifestBody, privateKeyPem: string | KeyObject): Manifest {
  const parsed = manifestBodySchema.parse(body);
  const key = typeof privateKeyPem === 'string' ? createPrivateKey(privateKeyPem) : privateKeyPem;
  const algorithm = algorithmOf(key);
  const data = signatureInput(parsed);
  const value =
    algorithm === 'Ed25519'
      ? sign(null, data, key)
      : sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
  return {
    format: MANIFEST_FORMAT,
    body: parsed,
    signature: { algorithm, keyId: keyIdOf(key), value: value.toString('base64') },
  };
}

/** Checks a manifest's signature against a public key. */
export function verifyManifestSignature(m: Manifest, publicKey: KeyObject): boolean {
  const data = signatureInput(m.body);
  const sig = Buffer.from(m.signature.value, 'base64');
  try {
    if (algorithmOf(publicKey) !== m.signature.algorithm) return false;
    return m.signature.algorithm === 'Ed25519'
      ? verify(null, data, publicKey, sig)
      : verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}

/** A manifest file that does not parse or does not follow the format; names the field. */
export class MalformedManifestError extends Error {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`malformed manifest: ${field}: ${detail}`);
    this.name = 'MalformedManifestError';
  }
}

/**
 * The largest manifest file: 100 000 booklets of the longest fields, pretty-printed, fit in
 * about 20 MiB. Checked before the file is read (docs/manifest-format.md).
 */
export const MANIFEST_MAX_BYTES = 32 * 1024 * 1024;

/** Reads a manifest file, refusing one larger than MANIFEST_MAX_BYTES before reading it. */
export function readManifestFile(path: string): string {
  return readBoundedText(path, MANIFEST_MAX_BYTES, `manifest ${path}`);
}

/**
 * Parses manifest text; throws MalformedManifestError naming the first bad field. A key
 * written twice anywhere is refused (a reader keeping the first value would see another
 * manifest than one keeping the last), as is text over MANIFEST_MAX_BYTES.
 */
export function parseManifest(text: string): Manifest {
  if (Buffer.byteLength(text, 'utf8') > MANIFEST_MAX_BYTES)
    throw new MalformedManifestError(
      '(file)',
      `larger than the limit of ${MANIFEST_MAX_BYTES / 1024 / 1024} MiB`,
    );
  let json: unknown;
  try {
    json = parseStrictJson(text);
  } catch (e) {
    if (!(e instanceof StrictJsonError)) throw e;
    throw new MalformedManifestError(e.where || '(file)', e.detail);
  }
  const r = manifestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.length
      ? issue.path
          .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
          .join('')
          .replace(/^\./, '')
      : '(top level)';
    const keys = 'keys' in issue && Array.isArray(issue.keys) ? ` (${issue.keys.join(', ')})` : '';
    throw new MalformedManifestError(field, issue.message + keys);
  }
  return r.data;
}

/** SHA-256 of the manifest file as received (kept with the batch). */
export function manifestDigest(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
