/**
 * Test PKI to ICAO Doc 9303 Part 12 certificate profiles: a self-signed CSCA and Document
 * Signer certificates issued by it. Subjects say TEST so nothing made here can pass for a
 * production certificate.
 */
import { generateKeyPairSync, webcrypto, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { PrivateKeyUsagePeriod, id_ce_privateKeyUsagePeriod } from '@peculiar/asn1-x509';
import { x509 } from './x509.ts';
import * as asn1js from 'asn1js';

/** Document type list extension of Part 12 (id-icao-mrtd-security-extensions-documentTypeList). */
export const OID_DOCUMENT_TYPE_LIST = '2.23.136.1.1.6.2';

const CURVES = { 'P-256': 'prime256v1', 'P-384': 'secp384r1' } as const;
const HASH_FOR = { 'P-256': 'SHA-256', 'P-384': 'SHA-384' } as const;
type Curve = keyof typeof CURVES;

export interface TestPkiOptions {
  /** ISO 3166-1 alpha-2 country code for C= (e.g. PE). */
  country: string;
  /** Organisation named in the subjects. */
  organization?: string;
  /** Years the CSCA certificate is valid (Part 12: key usage 3-5 years, certificate longer). */
  cscaYears?: number;
  /** Years the DS certificate is valid (signing period plus the validity of passports). */
  dsYears?: number;
  now?: Date;
}

export interface IssuedKey {
  certificatePem: string;
  certificateDer: Buffer;
  privateKeyPem: string;
  privateKey: KeyObject;
}

async function importPrivate(key: KeyObject, curve: Curve): Promise<CryptoKey> {
  return webcrypto.subtle.importKey(
    'pkcs8',
    key.export({ type: 'pkcs8', format: 'der' }),
    { name: 'ECDSA', namedCurve: curve },
    false,
    ['sign'],
  ) as Promise<CryptoKey>;
}

async function importPublicSpki(spki: Buffer): Promise<CryptoKey> {
  const pk = new x509.PublicKey(new Uint8Array(spki));
  const alg = pk.algorithm as { name: string; namedCurve?: string };
  const params =
    alg.name === 'ECDSA'
      ? { name: 'ECDSA', namedCurve: alg.namedCurve! }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return webcrypto.subtle.importKey('spki', new Uint8Array(spki), params, true, [
    'verify',
  ]) as Promise<CryptoKey>;
}

function privateKeyUsagePeriod(from: Date, to: Date): x509.Extension {
  const value = AsnConvert.serialize(new PrivateKeyUsagePeriod({ notBefore: from, notAfter: to }));
  return new x509.Extension(id_ce_privateKeyUsagePeriod, false, value);
}

function documentTypeList(types: string[]): x509.Extension {
  // DocumentTypeListSyntax ::= SEQUENCE { version INTEGER (0), docTypeList SET OF PrintableString }
  const value = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 0 }),
      new asn1js.Set({ value: types.map((t) => new asn1js.PrintableString({ value: t })) }),
    ],
  }).toBER(false);
  return new x509.Extension(OID_DOCUMENT_TYPE_LIST, false, value);
}

/** Certificates carry whole seconds (RFC 5280: no fractional seconds in GeneralizedTime). */
function wholeSeconds(d: Date | undefined): Date {
  return new Date(Math.floor((d ?? new Date()).getTime() / 1000) * 1000);
}

function addYears(d: Date, years: number): Date {
  const r = new Date(d);
  r.setUTCFullYear(r.getUTCFullYear() + years);
  return r;
}

function serial(): string {
  const b = Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

function checkCountry(c: string): void {
  if (!/^[A-Z]{2}$/.test(c))
    throw new RangeError(`country must be two capital letters (ISO 3166-1), got "${c}"`);
}

/** Creates a self-signed test CSCA (ECDSA P-384, SHA-384) per the Part 12 CSCA profile. */
export async function createTestCsca(opts: TestPkiOptions): Promise<IssuedKey> {
  checkCountry(opts.country);
  const now = wholeSeconds(opts.now);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: CURVES['P-384'] });
  const keys = {
    privateKey: await importPrivate(privateKey, 'P-384'),
    publicKey: await importPublicSpki(publicKey.export({ type: 'spki', format: 'der' })),
  };
  const name = `C=${opts.country}, O=${opts.organization ?? 'Perso Station'}, OU=TEST, CN=CSCA TEST ${opts.country}`;
  const notAfter = addYears(now, opts.cscaYears ?? 15);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name,
    notBefore: now,
    notAfter,
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: HASH_FOR['P-384'] },
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
      privateKeyUsagePeriod(now, addYears(now, 5)),
    ],
  });
  return {
    certificatePem: cert.toString('pem'),
    certificateDer: Buffer.from(cert.rawData),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    privateKey,
  };
}

/**
 * Issues a Document Signer certificate for `publicKeySpki` (any EC or RSA key, e.g. one that
 * lives on a token) signed by the CSCA, per the Part 12 DS profile: digitalSignature key
 * usage (critical), authority and subject key identifiers, private key usage period, and the
 * document type list (P).
 */
export async function issueDocumentSigner(
  csca: { certificatePem: string; privateKey: KeyObject },
  publicKeySpki: Buffer,
  opts: TestPkiOptions & { serialNumber?: string },
): Promise<{ certificatePem: string; certificateDer: Buffer }> {
  checkCountry(opts.country);
  const now = wholeSeconds(opts.now);
  const issuer = new x509.X509Certificate(csca.certificatePem);
  const curve = ((issuer.publicKey.algorithm as { namedCurve?: string }).namedCurve ??
    'P-384') as Curve;
  const subjectKey = await importPublicSpki(publicKeySpki);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serialNumber ?? serial(),
    subject: `C=${opts.country}, O=${opts.organization ?? 'Perso Station'}, OU=TEST, CN=Document Signer TEST ${opts.country}`,
    issuer: issuer.subject,
    notBefore: now,
    notAfter: addYears(now, opts.dsYears ?? 11),
    publicKey: subjectKey,
    signingKey: await importPrivate(csca.privateKey, curve),
    signingAlgorithm: { name: 'ECDSA', hash: HASH_FOR[curve] },
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(subjectKey),
      privateKeyUsagePeriod(now, addYears(now, 1)),
      documentTypeList(['P']),
    ],
  });
  return { certificatePem: cert.toString('pem'), certificateDer: Buffer.from(cert.rawData) };
}

/** A test CSCA plus a Document Signer with an ECDSA P-256 key in PEM: what `pki init --test` writes. */
export async function createTestPki(
  opts: TestPkiOptions,
): Promise<{ csca: IssuedKey; ds: IssuedKey }> {
  const csca = await createTestCsca(opts);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: CURVES['P-256'] });
  const ds = await issueDocumentSigner(
    csca,
    publicKey.export({ type: 'spki', format: 'der' }),
    opts,
  );
  return {
    csca,
    ds: {
      ...ds,
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      privateKey,
    },
  };
}
