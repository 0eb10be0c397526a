/**
 * Passive authentication (Doc 9303 Part 11 section 5.1, Part 12): the SOD signature with the
 * Document Signer certificate, the DS certificate against a CSCA, every data group hash, the
 * mandatory files (EF.COM, DG1, DG2) and EF.COM's list, and DG1 against the MRZ printed on the
 * data page when it is given. Reports every check; never stops at the first failure.
 */
import {
  createHash,
  createPublicKey,
  timingSafeEqual,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { x509 } from './x509.ts';
import * as asn1js from 'asn1js';
import { dg1, efCom } from './lds.ts';
import { parseTd3 } from './mrz.ts';
import {
  OID_CONTENT_TYPE,
  OID_LDS_SECURITY_OBJECT,
  OID_MESSAGE_DIGEST,
  type ParsedSod,
  parseSod,
  signatureAlgorithmOf,
  signedAttribute,
} from './sod.ts';

export interface PaCheck {
  /** Stable identifier, e.g. `sod.signature`, `dg.2.hash`, `ds.chain`. */
  id: string;
  ok: boolean;
  detail: string;
}

export interface PaReport {
  ok: boolean;
  checks: PaCheck[];
  /** Subject of the Document Signer certificate, when readable. */
  documentSigner?: string;
  hashAlgorithm?: string;
  /** Data groups the SOD covers. */
  dataGroups: number[];
}

export interface PaInput {
  /** LDS files by name: `EF.COM`, `DG1`, ..., `EF.SOD` (exact chip bytes). */
  files: Map<string, Uint8Array>;
  /** Trusted CSCA certificates (PEM or DER). */
  cscas: (string | Uint8Array)[];
  /** The MRZ read from the printed page (two lines or 88 characters), compared with DG1. */
  printedMrz?: string;
  /** Validity reference time (default now). */
  at?: Date;
  /**
   * `files`' EF.SOD already parsed by the caller (the border reader parses it to list the data
   * groups): saves parsing it twice. It must come from exactly those bytes.
   */
  parsedSod?: ParsedSod;
}

/**
 * Trusted CSCA certificates as parsed, by their PEM text or DER hex: the same few CSCAs come
 * with every job, and parsing one costs more than the chain check that uses it. Bounded: the
 * oldest entry goes when a new one would make more than `CSCA_CACHE_SIZE`.
 */
const CSCA_CACHE_SIZE = 16;
const cscaCache = new Map<string, x509.X509Certificate>();
function parseCsca(raw: string | Uint8Array): x509.X509Certificate {
  const key = typeof raw === 'string' ? raw : Buffer.from(raw).toString('hex');
  return cachedParse(
    cscaCache,
    key,
    () => new x509.X509Certificate(typeof raw === 'string' ? raw : new Uint8Array(raw)),
  );
}

/**
 * Document Signer certificates as parsed, by their DER (hex): a station signs every passport
 * with the same few, and the border read-back parses the one each SOD carries. Only the parse
 * is kept; every check on it (key usage, validity, the signer identifier, the SOD signature,
 * the chain to a CSCA) runs for every SOD. Bounded like the CSCAs.
 */
const dsCache = new Map<string, x509.X509Certificate>();
function parseDs(der: Uint8Array): x509.X509Certificate {
  return cachedParse(
    dsCache,
    Buffer.from(der).toString('hex'),
    () => new x509.X509Certificate(new Uint8Array(der)),
  );
}

/** A parsed DS certificate's public key for node:crypto (public; made once per certificate). */
const dsKeys = new WeakMap<x509.X509Certificate, KeyObject>();
function dsPublicKey(ds: x509.X509Certificate): KeyObject {
  let k = dsKeys.get(ds);
  if (!k) {
    k = createPublicKey({ key: Buffer.from(ds.publicKey.rawData), format: 'der', type: 'spki' });
    dsKeys.set(ds, k);
  }
  return k;
}

/**
 * A CSCA's public key imported (WebCrypto) for checking a certificate signature made with
 * `algorithm`, as x509's verify() imports it each time: public, made once per CSCA and algorithm.
 */
const cscaKeys = new WeakMap<x509.X509Certificate, Map<string, Promise<CryptoKey>>>();
function cscaVerifyKey(csca: x509.X509Certificate, algorithm: Algorithm): Promise<CryptoKey> {
  let byAlgorithm = cscaKeys.get(csca);
  if (!byAlgorithm) cscaKeys.set(csca, (byAlgorithm = new Map()));
  const id = JSON.stringify(algorithm);
  let key = byAlgorithm.get(id);
  if (!key) {
    key = csca.publicKey.export({ ...csca.publicKey.algorithm, ...algorithm }, ['verify']);
    byAlgorithm.set(id, key);
    key.catch(() => byAlgorithm.delete(id));
  }
  return key;
}

/** A distinguished name (DER) as text, for comparing the signer identifier's issuer. */
const nameCache = new Map<string, string>();
function nameText(der: ArrayBuffer): string {
  return cachedParse(nameCache, Buffer.from(der).toString('hex'), () =>
    new x509.Name(der).toString(),
  );
}

function cachedParse<T>(cache: Map<string, T>, key: string, parse: () => T): T {
  let v = cache.get(key);
  if (v === undefined) {
    v = parse();
    if (cache.size >= CSCA_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(key, v);
  }
  return v;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Runs passive authentication and returns the full report. */
export async function passiveAuthentication(input: PaInput): Promise<PaReport> {
  const checks: PaCheck[] = [];
  const add = (id: string, ok: boolean, detail: string): boolean => {
    checks.push({ id, ok, detail });
    return ok;
  };
  const at = input.at ?? new Date();
  const report = (extra: Partial<PaReport> = {}): PaReport => ({
    ok: checks.length > 0 && checks.every((c) => c.ok),
    checks,
    dataGroups: [],
    ...extra,
  });

  const sodBytes = input.files.get('EF.SOD');
  if (!sodBytes) {
    add('sod.present', false, 'EF.SOD is missing');
    return report();
  }
  let sod: ParsedSod;
  try {
    sod = input.parsedSod ?? parseSod(sodBytes);
    add('sod.structure', true, `CMS SignedData with LDSSecurityObject, ${sod.hash}`);
  } catch (e) {
    add('sod.structure', false, (e as Error).message);
    return report();
  }
  const dataGroups = [...sod.dataGroupHashes.keys()].sort((a, b) => a - b);

  // Signed attributes: content type and message digest.
  const ct = signedAttribute(sod.signerInfo, OID_CONTENT_TYPE);
  const ctValue = ct ? asn1js.fromBER(ct).result : undefined;
  add(
    'sod.contentType',
    ctValue instanceof asn1js.ObjectIdentifier &&
      ctValue.valueBlock.toString() === OID_LDS_SECURITY_OBJECT,
    'signed contentType attribute names the LDSSecurityObject',
  );
  const md = signedAttribute(sod.signerInfo, OID_MESSAGE_DIGEST);
  const signerHash = sod.signerInfo.digestAlgorithm.algorithm;
  let mdOk = false;
  try {
    const hashName = {
      '2.16.840.1.101.3.4.2.1': 'sha256',
      '2.16.840.1.101.3.4.2.2': 'sha384',
      '2.16.840.1.101.3.4.2.3': 'sha512',
    }[signerHash];
    if (md && hashName) {
      const recorded = Buffer.from(AsnConvert.parse(md, OctetString).buffer);
      mdOk = equal(recorded, createHash(hashName).update(sod.content).digest());
    }
  } catch {
    mdOk = false;
  }
  add(
    'sod.messageDigest',
    mdOk,
    mdOk
      ? 'messageDigest matches the LDSSecurityObject'
      : 'messageDigest does not match the LDSSecurityObject',
  );

  // Document Signer certificate and the signature.
  let ds: x509.X509Certificate | undefined;
  if (sod.certificates.length === 0)
    add('ds.present', false, 'EF.SOD carries no Document Signer certificate');
  else {
    ds = parseDs(sod.certificates[0]!);
    // The signer info must name this certificate (issuer and serial number).
    const sid = sod.signerInfo.sid.issuerAndSerialNumber;
    const sidOk =
      sid !== undefined &&
      Buffer.from(sid.serialNumber)
        .toString('hex')
        .replace(/^(00)+/, '') === ds.serialNumber.toLowerCase().replace(/^(00)+/, '') &&
      nameText(AsnConvert.serialize(sid.issuer)) === ds.issuer;
    add(
      'sod.signerIdentifier',
      sidOk,
      sidOk
        ? 'signer info identifies the included DS certificate'
        : 'signer info does not identify the included DS certificate',
    );
    const ku = ds.getExtension(x509.KeyUsagesExtension);
    const kuOk = ku !== null && (ku.usages & x509.KeyUsageFlags.digitalSignature) !== 0;
    add(
      'ds.keyUsage',
      kuOk,
      kuOk
        ? 'DS certificate allows digitalSignature'
        : 'DS certificate lacks the digitalSignature key usage',
    );
    const alg = signatureAlgorithmOf(sod.signerInfo.signatureAlgorithm.algorithm);
    let sigOk = false;
    let detail = '';
    if (!alg)
      detail = `signature algorithm ${sod.signerInfo.signatureAlgorithm.algorithm} is not supported`;
    else {
      try {
        const key = dsPublicKey(ds);
        sigOk = nodeVerify(
          alg.hash,
          sod.signedAttrsDer,
          key,
          Buffer.from(sod.signerInfo.signature.buffer),
        );
        detail = sigOk
          ? `${alg.keyType === 'ec' ? 'ECDSA' : 'RSA'} ${alg.hash} signature verifies with the DS key`
          : 'signature does not verify with the DS key';
      } catch (e) {
        detail = `signature check failed: ${(e as Error).message}`;
      }
    }
    add('sod.signature', sigOk, detail);
    const dsValid = ds.notBefore <= at && at <= ds.notAfter;
    add(
      'ds.validity',
      dsValid,
      `DS certificate valid ${ds.notBefore.toISOString()} to ${ds.notAfter.toISOString()}`,
    );

    // Chain: some trusted CSCA whose subject is the DS issuer and whose key verifies it.
    let chainOk = false;
    let chainDetail = `no trusted CSCA named "${ds.issuer}"`;
    for (const raw of input.cscas) {
      let csca: x509.X509Certificate;
      try {
        csca = parseCsca(raw);
      } catch (e) {
        chainDetail = `CSCA certificate unreadable: ${(e as Error).message}`;
        continue;
      }
      if (csca.subject !== ds.issuer) continue;
      // As ds.verify({ publicKey: csca.publicKey }) does, with the key imported once: a key
      // that cannot be imported verifies nothing.
      const cscaKey = await cscaVerifyKey(csca, ds.signatureAlgorithm).catch(() => undefined);
      const verified =
        cscaKey !== undefined && (await ds.verify({ publicKey: cscaKey, signatureOnly: true }));
      const cscaValid = csca.notBefore <= at && at <= csca.notAfter;
      if (verified && cscaValid) {
        chainOk = true;
        chainDetail = `DS certificate is signed by CSCA "${csca.subject}"`;
        break;
      }
      chainDetail = verified
        ? `CSCA "${csca.subject}" is not valid at ${at.toISOString()}`
        : `DS certificate signature does not verify with CSCA "${csca.subject}"`;
    }
    add('ds.chain', chainOk, chainDetail);
  }

  // Every data group hash, and no data group outside the SOD.
  for (const n of dataGroups) {
    const file = input.files.get(`DG${n}`);
    if (!file) {
      add(`dg.${n}.hash`, false, `DG${n} is in the SOD but its file is missing`);
      continue;
    }
    const ok = equal(createHash(sod.hash).update(file).digest(), sod.dataGroupHashes.get(n)!);
    add(`dg.${n}.hash`, ok, ok ? `DG${n} hash matches` : `DG${n} hash does not match the SOD`);
  }
  for (const name of input.files.keys()) {
    const m = /^DG(\d+)$/.exec(name);
    if (m && !sod.dataGroupHashes.has(Number(m[1])))
      add(`dg.${m[1]}.covered`, false, `${name} is present but the SOD has no hash for it`);
  }

  // The mandatory files (Doc 9303 Part 10: EF.COM, DG1 and DG2 in every eMRTD). A missing one
  // is a failure that names it, never a check quietly skipped.
  const present = [...input.files.keys()]
    .map((name) => /^DG(\d+)$/.exec(name))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  for (const [id, name, what] of [
    ['com.present', 'EF.COM', 'the list of data groups'],
    ['dg1.present', 'DG1', 'the MRZ'],
    ['dg2.present', 'DG2', 'the face'],
  ] as const) {
    const there = input.files.has(name);
    add(id, there, there ? `${name} is present` : `${name} (${what}) is missing; it is mandatory`);
  }

  // EF.COM lists the data groups the SOD covers and the files present, no more, no fewer.
  const com = input.files.get('EF.COM');
  if (com) {
    try {
      const listed = efCom
        .decode(com)
        .dataGroups.slice()
        .sort((a, b) => a - b);
      const same = (a: number[]): boolean => a.join(',') === listed.join(',');
      const ok = same(dataGroups) && same(present);
      add(
        'com.dataGroups',
        ok,
        ok
          ? 'EF.COM lists the data groups of the SOD'
          : `EF.COM lists DG ${listed.join(',') || 'none'}, the SOD has DG ${dataGroups.join(',') || 'none'}, the files are DG ${present.join(',') || 'none'}`,
      );
    } catch (e) {
      add('com.dataGroups', false, `EF.COM unreadable: ${(e as Error).message}`);
    }
  }

  // DG1: a valid MRZ, equal to the printed one when given. Without a readable DG1 the printed
  // MRZ has nothing to agree with: that fails too.
  const d1 = input.files.get('DG1');
  let chipMrz: string | undefined;
  if (d1) {
    try {
      chipMrz = dg1.decode(d1);
      const parsed = parseTd3(chipMrz);
      add(
        'dg1.mrz',
        parsed.valid,
        parsed.valid
          ? 'DG1 holds a valid TD3 MRZ'
          : `DG1 MRZ fails: ${[...parsed.problems, ...parsed.checks.filter((c) => !c.ok).map((c) => `${c.name} check digit`)].join(', ')}`,
      );
    } catch (e) {
      add('dg1.mrz', false, `DG1 unreadable: ${(e as Error).message}`);
    }
  }
  if (input.printedMrz !== undefined) {
    const printed = input.printedMrz.replace(/\r?\n/g, '').trim();
    add(
      'dg1.printed',
      chipMrz !== undefined && printed === chipMrz,
      chipMrz === undefined
        ? 'no readable DG1 to compare the printed MRZ with'
        : printed === chipMrz
          ? 'DG1 equals the printed MRZ'
          : 'DG1 differs from the printed MRZ',
    );
  }

  return report({ documentSigner: ds?.subject, hashAlgorithm: sod.hash, dataGroups });
}
