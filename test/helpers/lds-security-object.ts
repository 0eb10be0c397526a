/**
 * Reads an LDSSecurityObject (Doc 9303 Part 10, 4.6.2) with a DER walk of its own, so that tests
 * can check what OpenSSL extracted from EF.SOD without going through mrtd/sod.ts:
 *
 *   LDSSecurityObject ::= SEQUENCE { version INTEGER, hashAlgorithm AlgorithmIdentifier,
 *     dataGroupHashValues SEQUENCE OF SEQUENCE { dataGroupNumber INTEGER, hashValue OCTET STRING } }
 */
import { createHash } from 'node:crypto';

interface Der {
  tag: number;
  value: Buffer;
  /** Offset just past this element. */
  end: number;
}

function readDer(b: Buffer, at: number): Der {
  const tag = b[at]!;
  let len = b[at + 1]!;
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) throw new Error(`unsupported DER length form at ${at}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
  }
  if (p + len > b.length) throw new Error(`DER element at ${at} runs past the end`);
  return { tag, value: b.subarray(p, p + len), end: p + len };
}

function children(parent: Buffer): Der[] {
  const out: Der[] = [];
  for (let at = 0; at < parent.length;) {
    const d = readDer(parent, at);
    out.push(d);
    at = d.end;
  }
  return out;
}

function expectTag(d: Der | undefined, tag: number, what: string): Der {
  if (!d || d.tag !== tag)
    throw new Error(`${what}: expected tag ${tag.toString(16)}, got ${d?.tag.toString(16)}`);
  return d;
}

function oidText(v: Buffer): string {
  const parts = [Math.floor(v[0]! / 40), v[0]! % 40];
  let n = 0;
  for (const byte of v.subarray(1)) {
    n = n * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(n);
      n = 0;
    }
  }
  return parts.join('.');
}

const HASHES: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '1.3.14.3.2.26': 'sha1',
};

export interface LdsSecurityObjectView {
  version: number;
  hash: string;
  /** Data group number → hash value (hex). */
  hashes: Map<number, string>;
}

export function readLdsSecurityObject(der: Buffer): LdsSecurityObjectView {
  const top = readDer(der, 0);
  expectTag(top, 0x30, 'LDSSecurityObject');
  if (top.end !== der.length) throw new Error('bytes after the LDSSecurityObject');
  const [version, alg, values] = children(top.value);
  const v = expectTag(version, 0x02, 'version').value;
  const oid = expectTag(children(expectTag(alg, 0x30, 'hashAlgorithm').value)[0], 0x06, 'OID');
  const hash = HASHES[oidText(oid.value)];
  if (!hash) throw new Error(`unknown hash algorithm ${oidText(oid.value)}`);
  const hashes = new Map<number, string>();
  for (const entry of children(expectTag(values, 0x30, 'dataGroupHashValues').value)) {
    const [n, h] = children(expectTag(entry, 0x30, 'DataGroupHash').value);
    const number = expectTag(n, 0x02, 'dataGroupNumber').value.readUIntBE(0, 1);
    if (hashes.has(number)) throw new Error(`DG${number} hashed twice`);
    hashes.set(number, expectTag(h, 0x04, 'dataGroupHashValue').value.toString('hex'));
  }
  return { version: v.readUIntBE(0, v.length), hash, hashes };
}

/**
 * Compares every hash of the security object with node:crypto's hash of the file, and the set
 * of hashed data groups with the DG files present. Returns the disagreements (empty: all agree).
 */
export function crossCheckHashes(
  lso: LdsSecurityObjectView,
  files: ReadonlyMap<string, Uint8Array>,
): string[] {
  const problems: string[] = [];
  const present = [...files.keys()].filter((n) => /^DG\d+$/.test(n)).map((n) => Number(n.slice(2)));
  for (const n of present)
    if (!lso.hashes.has(n)) problems.push(`DG${n} is present but not hashed`);
  for (const [n, recorded] of lso.hashes) {
    const file = files.get(`DG${n}`);
    if (!file) problems.push(`DG${n} is hashed but absent`);
    else if (createHash(lso.hash).update(file).digest('hex') !== recorded)
      problems.push(`DG${n} hash differs`);
  }
  return problems;
}
