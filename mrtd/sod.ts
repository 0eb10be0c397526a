/**
 * EF.SOD (Doc 9303 Part 10 section 4.6.2, Part 12): an LDSSecurityObject holding a hash of
 * every data group, in a CMS SignedData (RFC 5652) with signed attributes, signed by the
 * Document Signer. Built and parsed with @peculiar/asn1-schema and @peculiar/asn1-cms.
 */
import { createHash, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import {
  AsnArray,
  AsnConvert,
  AsnParser,
  AsnProp,
  AsnPropTypes,
  AsnType,
  AsnTypeTypes,
  OctetString,
} from '@peculiar/asn1-schema';
import {
  Attribute,
  ContentInfo,
  DigestAlgorithmIdentifiers,
  EncapsulatedContent,
  EncapsulatedContentInfo,
  IssuerAndSerialNumber,
  SignedData,
  SignerIdentifier,
  SignerInfo,
  SignerInfos,
  id_signedData,
} from '@peculiar/asn1-cms';
import { AlgorithmIdentifier, Certificate, Time } from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import { type DocumentSigner, type HashAlgorithm } from './signer.ts';
import type { TlvError } from './tlv.ts';
import { encodedTlvList, expectTlv, tlv } from './tlv.ts';

export const OID_LDS_SECURITY_OBJECT = '2.23.136.1.1.1';
const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const OID_SIGNING_TIME = '1.2.840.113549.1.9.5';

export const HASH_OIDS: Record<HashAlgorithm, string> = {
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};
const ECDSA_OIDS: Record<HashAlgorithm, string> = {
  sha256: '1.2.840.10045.4.3.2',
  sha384: '1.2.840.10045.4.3.3',
  sha512: '1.2.840.10045.4.3.4',
};
const RSA_OIDS: Record<HashAlgorithm, string> = {
  sha256: '1.2.840.113549.1.1.11',
  sha384: '1.2.840.113549.1.1.12',
  sha512: '1.2.840.113549.1.1.13',
};

export function hashOfOid(oid: string): HashAlgorithm {
  for (const [k, v] of Object.entries(HASH_OIDS)) if (v === oid) return k as HashAlgorithm;
  throw new SodError(`hash algorithm ${oid} is not supported`);
}

export function signatureAlgorithmOf(
  oid: string,
): { keyType: 'ec' | 'rsa'; hash: HashAlgorithm } | undefined {
  for (const h of Object.keys(ECDSA_OIDS) as HashAlgorithm[]) {
    if (ECDSA_OIDS[h] === oid) return { keyType: 'ec', hash: h };
    if (RSA_OIDS[h] === oid) return { keyType: 'rsa', hash: h };
  }
  return undefined;
}

export class SodError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SodError';
  }
}

// LDSSecurityObject ::= SEQUENCE { version, hashAlgorithm, dataGroupHashValues }
export class DataGroupHash {
  @AsnProp({ type: AsnPropTypes.Integer })
  dataGroupNumber = 0;
  @AsnProp({ type: OctetString })
  dataGroupHashValue = new OctetString();
  constructor(params: Partial<DataGroupHash> = {}) {
    Object.assign(this, params);
  }
}

export class LdsSecurityObject {
  @AsnProp({ type: AsnPropTypes.Integer })
  version = 0;
  @AsnProp({ type: AlgorithmIdentifier })
  hashAlgorithm = new AlgorithmIdentifier();
  @AsnProp({ type: DataGroupHash, repeated: 'sequence' })
  dataGroupHashValues: DataGroupHash[] = [];
  constructor(params: Partial<LdsSecurityObject> = {}) {
    Object.assign(this, params);
  }
}

/** The signed attributes as the SET OF that the signature covers (RFC 5652 section 5.4). */
@AsnType({ type: AsnTypeTypes.Set, itemType: Attribute })
class AttributeSet extends AsnArray<Attribute> {}

/** Data groups by number, as the exact bytes written to the chip. */
export type DataGroups = Map<number, Uint8Array>;

export interface SignSodOptions {
  /** Hash of the data groups and of the signed attributes (default SHA-256). */
  hash?: HashAlgorithm;
  /** Document Signer certificate (DER), included in SignedData.certificates. */
  dsCertificate: Uint8Array;
  signer: DocumentSigner;
  /** signingTime attribute; defaults to now. */
  signingTime?: Date;
}

/** Builds the LDSSecurityObject DER for the given data groups. */
export function ldsSecurityObject(dataGroups: DataGroups, hash: HashAlgorithm = 'sha256'): Buffer {
  if (dataGroups.size === 0) throw new SodError('an SOD needs at least one data group');
  const numbers = [...dataGroups.keys()].sort((a, b) => a - b);
  const lso = new LdsSecurityObject({
    version: 0,
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: HASH_OIDS[hash] }),
    dataGroupHashValues: numbers.map(
      (n) =>
        new DataGroupHash({
          dataGroupNumber: n,
          dataGroupHashValue: new OctetString(createHash(hash).update(dataGroups.get(n)!).digest()),
        }),
    ),
  });
  return Buffer.from(AsnConvert.serialize(lso));
}

function attr(type: string, value: ArrayBuffer): Attribute {
  return new Attribute({ attrType: type, attrValues: [value] });
}

/** DER of the signed attributes, SET OF sorted as DER requires. */
/** The SET OF attributes in DER order (each attribute encoded once to sort by), and that order. */
function encodeAttributeSet(attrs: Attribute[]): { der: Buffer; sorted: Attribute[] } {
  const sorted = attrs
    .map((a) => ({ a, der: Buffer.from(AsnConvert.serialize(a)) }))
    .sort((x, y) => Buffer.compare(x.der, y.der))
    .map((x) => x.a);
  return { der: Buffer.from(AsnConvert.serialize(new AttributeSet(sorted))), sorted };
}

/** The DS certificate changes rarely; parsing it is a large share of signing time. */
let certCache: { der: Buffer; cert: Certificate; publicKey: KeyObject } | undefined;
function parseCertificateCached(der: Uint8Array): { cert: Certificate; publicKey: KeyObject } {
  const b = Buffer.from(der);
  if (!certCache || !certCache.der.equals(b)) {
    let cert: Certificate;
    let publicKey: KeyObject;
    try {
      cert = AsnConvert.parse(b, Certificate);
      publicKey = createPublicKey({
        key: Buffer.from(AsnConvert.serialize(cert.tbsCertificate.subjectPublicKeyInfo)),
        format: 'der',
        type: 'spki',
      });
    } catch (e) {
      throw new SodError(
        `the Document Signer certificate is not a readable X.509 certificate: ${(e as Error).message}`,
      );
    }
    certCache = { der: Buffer.from(b), cert, publicKey };
  }
  return certCache;
}

/**
 * SignedData's DER (version, digestAlgorithms, encapContentInfo, signerInfos) with `certificates`
 * (RFC 5652 5.1: [0] IMPLICIT, a SET OF) put in before signerInfos, holding the Document Signer
 * certificate as it was issued, byte for byte. Encoding the parsed certificate again through the
 * schema could change bytes its CSCA signed (an encoding the schema does not keep), and cost a
 * whole certificate's encoding per document.
 */
function withCertificate(signedData: ArrayBuffer, certificateDer: Uint8Array): Buffer {
  const parts = encodedTlvList(expectTlv(new Uint8Array(signedData), 0x30, 'SignedData').value);
  if (parts.length !== 4)
    throw new SodError(`SignedData without certificates has ${parts.length} fields, not 4`);
  return tlv(0x30, [...parts.slice(0, 3), tlv(0xa0, certificateDer), parts[3]!]);
}

/** id-signedData as a DER OBJECT IDENTIFIER. */
const ID_SIGNED_DATA_DER = Buffer.from(
  new asn1js.ObjectIdentifier({ value: id_signedData }).toBER(false),
);

/** Builds and signs EF.SOD; returns the file bytes (tag 77 around the ContentInfo). */
export async function signSod(dataGroups: DataGroups, opts: SignSodOptions): Promise<Buffer> {
  const hash = opts.hash ?? 'sha256';
  const content = ldsSecurityObject(dataGroups, hash);
  const { cert, publicKey } = parseCertificateCached(opts.dsCertificate);
  if (publicKey.asymmetricKeyType !== (opts.signer.keyType === 'ec' ? 'ec' : 'rsa'))
    throw new SodError(
      `the Document Signer certificate holds a ${publicKey.asymmetricKeyType ?? 'unknown'} key but the signing key is ${opts.signer.keyType}`,
    );
  const digest = createHash(hash).update(content).digest();
  const time = opts.signingTime ?? new Date();
  const attrs = [
    attr(
      OID_CONTENT_TYPE,
      new asn1js.ObjectIdentifier({ value: OID_LDS_SECURITY_OBJECT }).toBER(false),
    ),
    attr(OID_SIGNING_TIME, AsnConvert.serialize(new Time(time))),
    attr(OID_MESSAGE_DIGEST, AsnConvert.serialize(new OctetString(digest))),
  ];
  const { der: signedAttrsDer, sorted: sortedAttrs } = encodeAttributeSet(attrs);
  const signature = await opts.signer.sign(signedAttrsDer, hash);
  // A key that is not the certificate's would give an SOD no border gate accepts: refuse it
  // here rather than write it to a chip.
  if (!nodeVerify(hash, signedAttrsDer, publicKey, signature))
    throw new SodError(
      'the signing key does not match the Document Signer certificate (the signature does not verify with the certificate key)',
    );
  const sigOid = opts.signer.keyType === 'ec' ? ECDSA_OIDS[hash] : RSA_OIDS[hash];
  const signerInfo = new SignerInfo({
    version: 1,
    sid: new SignerIdentifier({
      issuerAndSerialNumber: new IssuerAndSerialNumber({
        issuer: cert.tbsCertificate.issuer,
        serialNumber: cert.tbsCertificate.serialNumber,
      }),
    }),
    digestAlgorithm: new AlgorithmIdentifier({ algorithm: HASH_OIDS[hash] }),
    signedAttrs: [...sortedAttrs],
    signatureAlgorithm: new AlgorithmIdentifier(
      opts.signer.keyType === 'rsa'
        ? { algorithm: sigOid, parameters: null }
        : { algorithm: sigOid },
    ),
    signature: new OctetString(signature),
  });
  const signedData = new SignedData({
    version: 3,
    digestAlgorithms: new DigestAlgorithmIdentifiers([
      new AlgorithmIdentifier({ algorithm: HASH_OIDS[hash] }),
    ]),
    encapContentInfo: new EncapsulatedContentInfo({
      eContentType: OID_LDS_SECURITY_OBJECT,
      eContent: new EncapsulatedContent({ single: new OctetString(content) }),
    }),
    signerInfos: new SignerInfos([signerInfo]),
  });
  // ContentInfo (RFC 5652 3): SEQUENCE { contentType, [0] EXPLICIT content }, put together here:
  // asn1-schema takes its content as ANY, parsing the whole SignedData again to encode it again.
  const signedDataDer = withCertificate(AsnConvert.serialize(signedData), opts.dsCertificate);
  return tlv(0x77, tlv(0x30, [ID_SIGNED_DATA_DER, tlv(0xa0, signedDataDer)]));
}

/** The parts of a parsed EF.SOD that verification needs. */
export interface ParsedSod {
  /** The ContentInfo DER (EF.SOD without its 77 tag): what `openssl cms -verify` reads. */
  contentInfoDer: Buffer;
  signedData: SignedData;
  signerInfo: SignerInfo;
  /** DER of the signed attributes as signed (tag 31). */
  signedAttrsDer: Buffer;
  /** The LDSSecurityObject DER (eContent). */
  content: Buffer;
  hash: HashAlgorithm;
  /** Data group number → hash as recorded in the SOD. */
  dataGroupHashes: Map<number, Buffer>;
  /** The certificates carried in SignedData (DER). */
  certificates: Buffer[];
}

/** Parses EF.SOD bytes (with the 77 tag); structural problems throw SodError. */
export function parseSod(file: Uint8Array): ParsedSod {
  let contentInfoDer: Buffer;
  try {
    contentInfoDer = Buffer.from(expectTlv(file, 0x77, 'EF.SOD').value);
  } catch (e) {
    throw new SodError(`EF.SOD is not a 77 template: ${(e as TlvError).message}`);
  }
  try {
    // One BER parse of the whole SOD; the schema conversions, the signed attributes and the
    // certificates are all taken from that one tree.
    const tree = asn1js.fromBER(toArrayBuffer(contentInfoDer));
    if (tree.offset === -1 || tree.result.error) throw new Error(tree.result.error);
    const ci = AsnParser.fromASN(tree.result, ContentInfo);
    if (ci.contentType !== id_signedData)
      throw new SodError(`EF.SOD content type ${ci.contentType} is not signedData`);
    const sdNode = explicitContent(tree.result);
    const sd = AsnParser.fromASN(sdNode, SignedData);
    if (sd.encapContentInfo.eContentType !== OID_LDS_SECURITY_OBJECT)
      throw new SodError(
        `eContentType ${sd.encapContentInfo.eContentType} is not the LDSSecurityObject`,
      );
    const single = sd.encapContentInfo.eContent?.single;
    if (!single) throw new SodError('SignedData carries no LDSSecurityObject (detached content)');
    const content = Buffer.from(single.buffer);
    const lso = AsnConvert.parse(content, LdsSecurityObject);
    const hash = hashOfOid(lso.hashAlgorithm.algorithm);
    if (sd.signerInfos.length !== 1)
      throw new SodError(`EF.SOD has ${sd.signerInfos.length} signers, expected 1`);
    const si = sd.signerInfos[0]!;
    const signedAttrsDer = rawSignedAttributes(sdNode);
    const dataGroupHashes = new Map<number, Buffer>();
    for (const d of lso.dataGroupHashValues) {
      if (dataGroupHashes.has(d.dataGroupNumber))
        throw new SodError(`DG${d.dataGroupNumber} appears twice in the LDSSecurityObject`);
      dataGroupHashes.set(d.dataGroupNumber, Buffer.from(d.dataGroupHashValue.buffer));
    }
    const certificates = carriedCertificates(sdNode);
    return {
      contentInfoDer,
      signedData: sd,
      signerInfo: si,
      signedAttrsDer,
      content,
      hash,
      dataGroupHashes,
      certificates,
    };
  } catch (e) {
    if (e instanceof SodError) throw e;
    throw new SodError(`EF.SOD is not a valid CMS SignedData: ${(e as Error).message}`);
  }
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** The SignedData inside ContentInfo's `[0] EXPLICIT content` (ContentInfo was checked). */
function explicitContent(contentInfo: asn1js.AsnType): asn1js.AsnType {
  const items = contentInfo instanceof asn1js.Sequence ? contentInfo.valueBlock.value : [];
  const tagged = items[1];
  const inner = tagged instanceof asn1js.Constructed ? tagged.valueBlock.value[0] : undefined;
  if (!inner) throw new SodError('ContentInfo carries no content');
  return inner;
}

/**
 * The X.509 certificates of SignedData's `certificates [0] IMPLICIT CertificateSet`, as the bytes
 * carried (the other CertificateChoices are context-tagged and left out).
 */
function carriedCertificates(sd: asn1js.AsnType): Buffer[] {
  const items = sd instanceof asn1js.Sequence ? sd.valueBlock.value : [];
  const set = items.find((f) => f.idBlock.tagClass === 3 && f.idBlock.tagNumber === 0);
  const choices = set instanceof asn1js.Constructed ? set.valueBlock.value : [];
  return choices
    .filter((c) => c instanceof asn1js.Sequence)
    .map((c) => Buffer.from(c.valueBeforeDecodeView));
}

/**
 * The signed attributes exactly as they were encoded (the signature covers these bytes), with
 * the [0] IMPLICIT tag replaced by the SET OF tag (RFC 5652 section 5.4).
 */
function rawSignedAttributes(sd: asn1js.AsnType): Buffer {
  const items = sd instanceof asn1js.Sequence ? sd.valueBlock.value : [];
  const infos = items[items.length - 1];
  const first = infos instanceof asn1js.Set ? infos.valueBlock.value[0] : undefined;
  const fields = first instanceof asn1js.Sequence ? first.valueBlock.value : [];
  const attrs = fields.find((f) => f.idBlock.tagClass === 3 && f.idBlock.tagNumber === 0);
  if (!attrs) throw new SodError('the signer info has no signed attributes');
  const der = Buffer.from(attrs.valueBeforeDecodeView);
  der[0] = 0x31;
  return der;
}

/** Reads one signed attribute's single value, or undefined. */
export function signedAttribute(si: SignerInfo, oid: string): ArrayBuffer | undefined {
  const a = si.signedAttrs?.find((x) => x.attrType === oid);
  return a?.attrValues[0];
}

export { OID_CONTENT_TYPE, OID_MESSAGE_DIGEST, OID_SIGNING_TIME };
