/**
 * The LDS files of ICAO Doc 9303 Part 10: EF.COM, DG1, DG2, DG7, DG11, DG12, DG14, DG15 and
 * EF.CardAccess. Each file type has an `encode` giving exactly the bytes written to the chip
 * and a `decode` reading them back (one object per file type, as JMRTD has one class each).
 */
import * as asn1js from 'asn1js';
import { type ImageFormat, imageInfo } from './image.ts';
import { TlvError, decodeTlvList, expectTlv, findChild, hexTag, requireChild, tlv } from './tlv.ts';

/** Data group number → tag of its file (Part 10 section 4.6). */
export const DG_TAGS: Record<number, number> = {
  1: 0x61,
  2: 0x75,
  3: 0x63,
  4: 0x76,
  5: 0x65,
  6: 0x66,
  7: 0x67,
  8: 0x68,
  9: 0x69,
  10: 0x6a,
  11: 0x6b,
  12: 0x6c,
  13: 0x6d,
  14: 0x6e,
  15: 0x6f,
  16: 0x70,
};
export const TAG_EF_COM = 0x60;
export const TAG_EF_SOD = 0x77;

/** Short file identifiers (Part 10 section 3.11). */
export function fileIdentifier(name: string): number {
  if (name === 'EF.COM') return 0x011e;
  if (name === 'EF.SOD') return 0x011d;
  if (name === 'EF.CardAccess') return 0x011c;
  const m = /^DG(\d{1,2})$/.exec(name);
  if (m && Number(m[1]) >= 1 && Number(m[1]) <= 16) return 0x0100 + Number(m[1]);
  throw new RangeError(`unknown LDS file ${name}`);
}

export function dataGroupNumberOfTag(tag: number): number {
  for (const [n, t] of Object.entries(DG_TAGS)) if (t === tag) return Number(n);
  throw new TlvError(`tag ${hexTag(tag)} is not a data group tag`, 0);
}

const text = (b: Buffer): string => b.toString('utf8');

// ---------------------------------------------------------------------------------------------
// EF.COM

export interface EfCom {
  /** LDS version "aabb" (e.g. "0108" for 1.8). */
  ldsVersion: string;
  /** Unicode version "aabbcc" (e.g. "040000"). */
  unicodeVersion: string;
  /** Data groups present, by number, ascending. */
  dataGroups: number[];
}

export const efCom = {
  encode(c: EfCom): Buffer {
    if (!/^\d{4}$/.test(c.ldsVersion))
      throw new RangeError('LDS version must be 4 digits (e.g. 0108)');
    if (!/^\d{6}$/.test(c.unicodeVersion)) throw new RangeError('Unicode version must be 6 digits');
    const tags = c.dataGroups.map((n) => {
      const t = DG_TAGS[n];
      if (t === undefined) throw new RangeError(`DG${n} does not exist`);
      return t;
    });
    return tlv(TAG_EF_COM, [
      tlv(0x5f01, c.ldsVersion),
      tlv(0x5f36, c.unicodeVersion),
      tlv(0x5c, Buffer.from(tags)),
    ]);
  },
  decode(b: Uint8Array): EfCom {
    const kids = decodeTlvList(expectTlv(b, TAG_EF_COM, 'EF.COM').value);
    return {
      ldsVersion: text(requireChild(kids, 0x5f01, 'EF.COM').value),
      unicodeVersion: text(requireChild(kids, 0x5f36, 'EF.COM').value),
      dataGroups: [...requireChild(kids, 0x5c, 'EF.COM').value].map(dataGroupNumberOfTag),
    };
  },
};

// ---------------------------------------------------------------------------------------------
// DG1

export const dg1 = {
  /** `mrz` is the 88 characters of a TD3 MRZ (both lines, no separator). */
  encode(mrz: string): Buffer {
    if (!/^[A-Z0-9<]{88}$/.test(mrz))
      throw new RangeError('DG1 needs the 88 MRZ characters of a TD3');
    return tlv(0x61, [tlv(0x5f1f, mrz)]);
  },
  decode(b: Uint8Array): string {
    const kids = decodeTlvList(expectTlv(b, 0x61, 'DG1').value);
    return requireChild(kids, 0x5f1f, 'DG1').value.toString('latin1');
  },
};

// ---------------------------------------------------------------------------------------------
// DG2: ISO/IEC 19794-5 (2005) facial record in the biometric information template

/** Gender codes of ISO/IEC 19794-5 section 5.5.3. */
const GENDER = { unspecified: 0, M: 1, F: 2, unknown: 0xff } as const;

export interface FaceImage {
  image: Buffer;
  format: ImageFormat;
  width: number;
  height: number;
  /** 'M' | 'F' | 'unspecified' (sex X maps to unspecified). */
  gender: 'M' | 'F' | 'unspecified';
  /** ISO/IEC 19794-5 face image type: 1 = full frontal (ICAO), 2 = token frontal. */
  faceImageType: number;
  /** 19794-5 image colour space: 1 = 24-bit RGB, 3 = 8-bit greyscale. */
  colourSpace: number;
  /** 19794-5 source type: 2 = static photo from a digital still camera, 3 = scanner. */
  sourceType: number;
}

/** A face image as given (JPEG or JPEG 2000), with its header values read from the image. */
export function faceImage(
  image: Uint8Array,
  gender: FaceImage['gender'] = 'unspecified',
  sourceType = 2,
): FaceImage {
  const info = imageInfo(image);
  return {
    image: Buffer.from(image),
    format: info.format,
    width: info.width,
    height: info.height,
    gender,
    faceImageType: 1,
    colourSpace: info.components === 1 ? 3 : 1,
    sourceType,
  };
}

function encodeFacialRecord(f: FaceImage): Buffer {
  const info = Buffer.alloc(20);
  const blockLength = 20 + 12 + f.image.length;
  info.writeUInt32BE(blockLength, 0);
  info.writeUInt16BE(0, 4); // feature points
  info[6] = GENDER[f.gender];
  info[7] = 0; // eye colour unspecified
  info[8] = 0; // hair colour unspecified
  // property mask (3 bytes), expression (2), pose angles (3), uncertainties (3): all zero.
  const img = Buffer.alloc(12);
  img[0] = f.faceImageType;
  img[1] = f.format === 'jpeg' ? 0 : 1;
  img.writeUInt16BE(f.width, 2);
  img.writeUInt16BE(f.height, 4);
  img[6] = f.colourSpace;
  img[7] = f.sourceType;
  img.writeUInt16BE(0, 8); // device type unspecified
  img.writeUInt16BE(0, 10); // quality unspecified
  const header = Buffer.alloc(14);
  header.write('FAC\0', 0, 'latin1');
  header.write('010\0', 4, 'latin1');
  header.writeUInt32BE(14 + blockLength, 8);
  header.writeUInt16BE(1, 12);
  return Buffer.concat([header, info, img, f.image]);
}

function decodeFacialRecord(b: Buffer): FaceImage {
  if (b.length < 14 + 32 || b.toString('latin1', 0, 4) !== 'FAC\0')
    throw new TlvError('DG2: biometric data block is not an ISO/IEC 19794-5 facial record', 0);
  if (b.readUInt32BE(8) !== b.length)
    throw new TlvError('DG2: facial record length does not match its block', 0);
  if (b.readUInt16BE(12) < 1) throw new TlvError('DG2: facial record holds no image', 0);
  const p = 14;
  const blockLength = b.readUInt32BE(p);
  const featurePoints = b.readUInt16BE(p + 4);
  const g = b[p + 6]!;
  const q = p + 20 + featurePoints * 8;
  if (q + 12 > b.length || p + blockLength > b.length)
    throw new TlvError('DG2: facial record is truncated', q);
  const imageStart = q + 12;
  return {
    image: Buffer.from(b.subarray(imageStart, p + blockLength)),
    format: b[q + 1] === 0 ? 'jpeg' : 'jpeg2000',
    width: b.readUInt16BE(q + 2),
    height: b.readUInt16BE(q + 4),
    gender: g === 1 ? 'M' : g === 2 ? 'F' : 'unspecified',
    faceImageType: b[q]!,
    colourSpace: b[q + 6]!,
    sourceType: b[q + 7]!,
  };
}

export const dg2 = {
  encode(faces: FaceImage[]): Buffer {
    if (faces.length === 0) throw new RangeError('DG2 needs at least one face image');
    const instances = faces.map((f) =>
      tlv(0x7f60, [
        tlv(0xa1, [
          tlv(0x80, Buffer.from([0x01, 0x01])), // ICAO header version 1.1
          tlv(0x87, Buffer.from([0x01, 0x01])), // format owner: ISO/IEC JTC 1/SC 37
          tlv(0x88, Buffer.from([0x00, 0x08])), // format type: face image
        ]),
        tlv(0x5f2e, encodeFacialRecord(f)),
      ]),
    );
    return tlv(0x75, [tlv(0x7f61, [tlv(0x02, Buffer.from([faces.length])), ...instances])]);
  },
  decode(b: Uint8Array): FaceImage[] {
    const group = requireChild(decodeTlvList(expectTlv(b, 0x75, 'DG2').value), 0x7f61, 'DG2');
    const kids = decodeTlvList(group.value);
    const count = requireChild(kids, 0x02, 'DG2').value[0] ?? 0;
    const bits = kids.filter((k) => k.tag === 0x7f60);
    if (bits.length !== count)
      throw new TlvError(`DG2 announces ${count} instances but holds ${bits.length}`, 0);
    return bits.map((bit) => {
      const parts = decodeTlvList(bit.value);
      const data = findChild(parts, 0x5f2e) ?? findChild(parts, 0x7f2e);
      if (!data) throw new TlvError('DG2: biometric data block (5F2E) is missing', 0);
      return decodeFacialRecord(data.value);
    });
  },
};

// ---------------------------------------------------------------------------------------------
// DG7: displayed signature

export const dg7 = {
  encode(images: Uint8Array[]): Buffer {
    if (images.length === 0) throw new RangeError('DG7 needs at least one image');
    for (const i of images) imageInfo(i);
    return tlv(0x67, [
      tlv(0x02, Buffer.from([images.length])),
      ...images.map((i) => tlv(0x5f43, i)),
    ]);
  },
  decode(b: Uint8Array): Buffer[] {
    const kids = decodeTlvList(expectTlv(b, 0x67, 'DG7').value);
    const count = requireChild(kids, 0x02, 'DG7').value[0] ?? 0;
    const images = kids.filter((k) => k.tag === 0x5f43).map((k) => Buffer.from(k.value));
    if (images.length !== count)
      throw new TlvError(`DG7 announces ${count} images but holds ${images.length}`, 0);
    return images;
  },
};

// ---------------------------------------------------------------------------------------------
// DG11 and DG12: additional personal and document details

/** DG11 fields (Part 10 section 4.7.11), each optional. Dates are YYYYMMDD. */
export interface Dg11 {
  fullName?: string;
  personalNumber?: string;
  fullDateOfBirth?: string;
  placeOfBirth?: string;
  address?: string;
  telephone?: string;
  profession?: string;
  title?: string;
}
const DG11_TAGS: Record<keyof Dg11, number> = {
  fullName: 0x5f0e,
  personalNumber: 0x5f10,
  fullDateOfBirth: 0x5f2b,
  placeOfBirth: 0x5f11,
  address: 0x5f42,
  telephone: 0x5f12,
  profession: 0x5f13,
  title: 0x5f14,
};

/** DG12 fields (Part 10 section 4.7.12), each optional. Dates YYYYMMDD, date-time YYYYMMDDhhmmss. */
export interface Dg12 {
  issuingAuthority?: string;
  dateOfIssue?: string;
  endorsements?: string;
  taxOrExitRequirements?: string;
  personalizationDateTime?: string;
  personalizationSystemSerial?: string;
}
const DG12_TAGS: Record<keyof Dg12, number> = {
  issuingAuthority: 0x5f19,
  dateOfIssue: 0x5f26,
  endorsements: 0x5f1b,
  taxOrExitRequirements: 0x5f1c,
  personalizationDateTime: 0x5f55,
  personalizationSystemSerial: 0x5f56,
};

function textGroup<T extends object>(
  name: string,
  groupTag: number,
  tags: Record<keyof T, number>,
) {
  const entries = Object.entries(tags) as [keyof T & string, number][];
  return {
    /** True when at least one field holds data (the group is then written). */
    hasData(v: T): boolean {
      return entries.some(([k]) => typeof v[k] === 'string' && (v[k] as string).length > 0);
    },
    encode(v: T): Buffer {
      const present = entries.filter(
        ([k]) => typeof v[k] === 'string' && (v[k] as string).length > 0,
      );
      if (present.length === 0)
        throw new RangeError(`${name} has no data: leave it out of the LDS`);
      const list = Buffer.concat(present.map(([, t]) => Buffer.from([t >> 8, t & 0xff])));
      return tlv(groupTag, [
        tlv(0x5c, list),
        ...present.map(([k, t]) => tlv(t, Buffer.from(v[k] as string, 'utf8'))),
      ]);
    },
    decode(b: Uint8Array): T {
      const kids = decodeTlvList(expectTlv(b, groupTag, name).value);
      const out: Partial<Record<keyof T, string>> = {};
      for (const [k, t] of entries) {
        const c = findChild(kids, t);
        if (c) out[k] = text(c.value);
      }
      return out as T;
    },
  };
}

export const dg11 = textGroup<Dg11>('DG11', 0x6b, DG11_TAGS);
export const dg12 = textGroup<Dg12>('DG12', 0x6c, DG12_TAGS);

// ---------------------------------------------------------------------------------------------
// DG14 and EF.CardAccess: SecurityInfos (Part 11 section 9.2)

export const OID = {
  /** id-PACE-ECDH-GM-AES-CBC-CMAC-128 */
  paceEcdhGmAes128: '0.4.0.127.0.7.2.2.4.2.2',
  /** id-CA-ECDH-AES-CBC-CMAC-128 */
  caEcdhAes128: '0.4.0.127.0.7.2.2.3.2.2',
  /** id-PK-ECDH */
  pkEcdh: '0.4.0.127.0.7.2.2.1.2',
  /** id-AA (ActiveAuthenticationInfo) */
  activeAuthentication: '2.23.136.1.1.5',
  /** ecdsa-plain-SHA256 (BSI TR-03111), the AA signature algorithm for ECDSA keys */
  ecdsaPlainSha256: '0.4.0.127.0.7.1.1.4.1.3',
} as const;

/** One decoded SecurityInfo: its protocol OID, version and the protocol's parameters. */
export interface SecurityInfo {
  protocol: string;
  version?: number;
  /** PACE standardized domain parameter id (12 = NIST P-256). */
  parameterId?: number;
  /** For ChipAuthenticationPublicKeyInfo: the SubjectPublicKeyInfo DER. */
  publicKey?: Buffer;
  /** For ActiveAuthenticationInfo: the signature algorithm OID. */
  signatureAlgorithm?: string;
}

/** What a chip profile needs written in DG14 / EF.CardAccess. */
export interface SecurityInfosSpec {
  /** PACE with ECDH generic mapping, AES-128, NIST P-256 (parameter id 12). */
  pace?: boolean;
  /** Chip Authentication public key (SubjectPublicKeyInfo DER of an EC key). */
  chipAuthenticationPublicKey?: Uint8Array;
  /** ActiveAuthenticationInfo is required in DG14 when the AA key is ECDSA. */
  activeAuthenticationEcdsa?: boolean;
}

function infoDer(items: asn1js.AsnType[]): Buffer {
  return Buffer.from(new asn1js.Sequence({ value: items }).toBER(false));
}

function encodeSecurityInfos(spec: SecurityInfosSpec, forCardAccess: boolean): Buffer {
  const items: Buffer[] = [];
  if (spec.pace)
    items.push(
      infoDer([
        new asn1js.ObjectIdentifier({ value: OID.paceEcdhGmAes128 }),
        new asn1js.Integer({ value: 2 }),
        new asn1js.Integer({ value: 12 }),
      ]),
    );
  if (!forCardAccess && spec.chipAuthenticationPublicKey) {
    const spki = asn1js.fromBER(Buffer.from(spec.chipAuthenticationPublicKey));
    if (spki.offset === -1) throw new RangeError('Chip Authentication public key is not valid DER');
    items.push(
      infoDer([
        new asn1js.ObjectIdentifier({ value: OID.caEcdhAes128 }),
        new asn1js.Integer({ value: 1 }),
      ]),
      infoDer([new asn1js.ObjectIdentifier({ value: OID.pkEcdh }), spki.result]),
    );
  }
  if (!forCardAccess && spec.activeAuthenticationEcdsa)
    items.push(
      infoDer([
        new asn1js.ObjectIdentifier({ value: OID.activeAuthentication }),
        new asn1js.Integer({ value: 1 }),
        new asn1js.ObjectIdentifier({ value: OID.ecdsaPlainSha256 }),
      ]),
    );
  if (items.length === 0) throw new RangeError('SecurityInfos would be empty');
  // DER: SET OF elements in ascending order of their encodings.
  items.sort(Buffer.compare);
  const set = new asn1js.Set({ value: items.map((i) => asn1js.fromBER(i).result) });
  return Buffer.from(set.toBER(false));
}

function decodeSecurityInfos(der: Uint8Array): SecurityInfo[] {
  const parsed = asn1js.fromBER(Buffer.from(der));
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.Set))
    throw new TlvError('SecurityInfos is not a DER SET', 0);
  return parsed.result.valueBlock.value.map((el, i) => {
    if (!(el instanceof asn1js.Sequence))
      throw new TlvError(`SecurityInfo ${i} is not a SEQUENCE`, 0);
    const [oid, a, b] = el.valueBlock.value;
    if (!(oid instanceof asn1js.ObjectIdentifier))
      throw new TlvError(`SecurityInfo ${i} has no protocol OID`, 0);
    const info: SecurityInfo = { protocol: oid.valueBlock.toString() };
    if (a instanceof asn1js.Integer) info.version = a.valueBlock.valueDec;
    if (info.protocol === OID.pkEcdh && a) info.publicKey = Buffer.from(a.toBER(false));
    if (b instanceof asn1js.Integer) info.parameterId = b.valueBlock.valueDec;
    if (b instanceof asn1js.ObjectIdentifier) info.signatureAlgorithm = b.valueBlock.toString();
    return info;
  });
}

export const dg14 = {
  encode(spec: SecurityInfosSpec): Buffer {
    return tlv(0x6e, encodeSecurityInfos(spec, false));
  },
  decode(b: Uint8Array): SecurityInfo[] {
    return decodeSecurityInfos(expectTlv(b, 0x6e, 'DG14').value);
  },
};

/** EF.CardAccess is the bare SecurityInfos (no application tag), PACE infos only. */
export const efCardAccess = {
  encode(spec: SecurityInfosSpec): Buffer {
    return encodeSecurityInfos({ pace: spec.pace }, true);
  },
  decode(b: Uint8Array): SecurityInfo[] {
    return decodeSecurityInfos(b);
  },
};

// ---------------------------------------------------------------------------------------------
// DG15: Active Authentication public key

export const dg15 = {
  /** `spki` is the SubjectPublicKeyInfo DER (ECDSA P-256 or RSA-2048). */
  encode(spki: Uint8Array): Buffer {
    const parsed = asn1js.fromBER(Buffer.from(spki));
    if (parsed.offset === -1 || !(parsed.result instanceof asn1js.Sequence))
      throw new RangeError('DG15 needs a DER SubjectPublicKeyInfo');
    return tlv(0x6f, spki);
  },
  decode(b: Uint8Array): Buffer {
    return Buffer.from(expectTlv(b, 0x6f, 'DG15').value);
  },
};
