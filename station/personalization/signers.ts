/**
 * Where the station's Document Signers come from (docs/personalization.md, "Document Signers").
 *
 * `<data-dir>/document-signers.json` names, for production and for TEST jobs, the Document
 * Signer certificate, its private key and the CSCA certificate it chains to:
 *
 *   { "production": { "certificate": "pki/ds.crt", "key": "pkcs11:token=...;object=ds",
 *                     "csca": "pki/csca.crt" },
 *     "test": { ... } }
 *
 * Paths are relative to the data directory. The key is a PKCS#11 URI (the token; the PIN from
 * STATION_PKCS11_PIN) or, in development mode only, the path of a PEM key file (the dev seed
 * writes one). The production and TEST entries must name different CSCAs: a TEST booklet must
 * never verify against the production CSCA.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { readBoundedFile } from '../../contracts/bounded-read.ts';
import { readStrictJsonFile } from '../../contracts/strict-json.ts';
import { writeFileAtomically } from '../../db/private-files.ts';
import { KEY_FILE_MAX_BYTES, openSigner, type DocumentSigner } from '../../mrtd/signer.ts';
import { StationError } from '../errors.ts';
import { isDevelopmentMode } from '../keys/open.ts';

export const DOCUMENT_SIGNERS_FILE = 'document-signers.json';

const entry = z.strictObject({
  certificate: z.string().min(1).max(4096),
  key: z.string().min(1).max(4096),
  csca: z.string().min(1).max(4096),
});
export const documentSignersSchema = z.strictObject({
  production: entry.optional(),
  test: entry.optional(),
});
export type DocumentSignersConfig = z.infer<typeof documentSignersSchema>;
export type SignerKind = 'production' | 'test';

/** A Document Signer ready to sign, with its certificate and the CSCA it chains to. */
export interface StationSigner {
  kind: SignerKind;
  signer: DocumentSigner;
  certificateDer: Buffer;
  certificatePem: string;
  /** SHA-256 of the DS certificate (what the issuance record names). */
  certificateSha256: string;
  /** The CSCA certificate (PEM) the border read-back verifies against. */
  cscaPem: string;
  close(): void;
}

export class SignerConfigError extends StationError {
  constructor(message: string) {
    super(message, 'signer_config');
    this.name = 'SignerConfigError';
  }
}

const resolvePath = (dataDir: string, p: string): string => (isAbsolute(p) ? p : join(dataDir, p));

export function readDocumentSignersConfig(dataDir: string): DocumentSignersConfig {
  const path = join(dataDir, DOCUMENT_SIGNERS_FILE);
  let json: unknown;
  try {
    json = readStrictJsonFile(path, {
      maxBytes: 64 * 1024,
      what: `Document Signer settings ${path}`,
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new SignerConfigError(
        `no Document Signer is configured: ${path} is missing (docs/personalization.md)`,
      );
    throw new SignerConfigError((e as Error).message);
  }
  const parsed = documentSignersSchema.safeParse(json);
  if (!parsed.success)
    throw new SignerConfigError(
      `${path}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'} ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

export function writeDocumentSignersConfig(dataDir: string, config: DocumentSignersConfig): void {
  const checked = documentSignersSchema.parse(config);
  writeFileAtomically(join(dataDir, DOCUMENT_SIGNERS_FILE), JSON.stringify(checked, null, 2), {
    mode: 0o600,
  });
}

function readPem(path: string, what: string): string {
  try {
    return readBoundedFile(path, KEY_FILE_MAX_BYTES, what).toString('latin1');
  } catch (e) {
    throw new SignerConfigError(`${what} ${path}: ${(e as Error).message}`);
  }
}

/** Opens the production or the TEST Document Signer of the station. */
export function openStationSigner(
  dataDir: string,
  kind: SignerKind,
  env: NodeJS.ProcessEnv = process.env,
): StationSigner {
  const config = readDocumentSignersConfig(dataDir);
  const e = config[kind];
  if (!e)
    throw new SignerConfigError(
      `no ${kind === 'test' ? 'TEST ' : ''}Document Signer is configured in ${DOCUMENT_SIGNERS_FILE}`,
    );
  const other = config[kind === 'test' ? 'production' : 'test'];
  const certificatePem = readPem(
    resolvePath(dataDir, e.certificate),
    'Document Signer certificate',
  );
  const cscaPem = readPem(resolvePath(dataDir, e.csca), 'CSCA certificate');
  let cert: X509Certificate;
  let csca: X509Certificate;
  try {
    cert = new X509Certificate(certificatePem);
    csca = new X509Certificate(cscaPem);
  } catch (err) {
    throw new SignerConfigError(`a ${kind} certificate is not readable: ${(err as Error).message}`);
  }
  if (!cert.checkIssued(csca) || !cert.verify(csca.publicKey))
    throw new SignerConfigError(
      `the ${kind} Document Signer certificate is not issued by its CSCA`,
    );
  if (other) {
    const otherCsca = readPem(resolvePath(dataDir, other.csca), 'CSCA certificate');
    if (new X509Certificate(otherCsca).fingerprint256 === csca.fingerprint256)
      throw new SignerConfigError(
        'the production and TEST Document Signers chain to the same CSCA: a TEST booklet could pass as a passport',
      );
  }
  const pkcs11 = e.key.startsWith('pkcs11:');
  if (!pkcs11 && !isDevelopmentMode(env))
    throw new SignerConfigError(
      `the ${kind} Document Signer key is a PEM file: only a development station (STATION_MODE=development) signs with a key file; configure a PKCS#11 URI`,
    );
  let signer: DocumentSigner;
  try {
    signer = openSigner(pkcs11 ? e.key : resolvePath(dataDir, e.key));
  } catch (err) {
    throw new SignerConfigError(`the ${kind} Document Signer: ${(err as Error).message}`);
  }
  const certificateDer = Buffer.from(cert.raw);
  return {
    kind,
    signer,
    certificateDer,
    certificatePem,
    certificateSha256: createHash('sha256').update(certificateDer).digest('hex'),
    cscaPem,
    close: () => signer.close(),
  };
}

/** The CSCA certificates (PEM) of the configured Document Signers, for recovery's read-back. */
export function stationCscas(dataDir: string): { production?: string; test?: string } {
  let config: DocumentSignersConfig;
  try {
    config = readDocumentSignersConfig(dataDir);
  } catch {
    return {};
  }
  const out: { production?: string; test?: string } = {};
  for (const kind of ['production', 'test'] as const) {
    const e = config[kind];
    if (e) out[kind] = readPem(resolvePath(dataDir, e.csca), 'CSCA certificate');
  }
  return out;
}
