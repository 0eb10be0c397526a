/**
 * The pre-personalization record the booklet manufacturer writes on every chip (docs/chip.md):
 * who the chip was coded for and under which transport key. It is readable before transport
 * authentication, so it is a claim to be checked, never proof: the SCP03 handshake with the
 * agency's diversified key is the proof.
 *
 *   70 L                      template
 *     C1 L booklet serial     (ASCII, as printed in the booklet)
 *     C2 L chip serial        (ASCII)
 *     C3 L batch id           (ASCII)
 *     C4 L agency code        (ASCII)
 *     C5 L chip profile id    (ASCII)
 *     C6 01 key version       (transport key version, 1 byte)
 */
import { TlvError, decodeTlv, decodeTlvList, tlv } from './tlv.ts';

/** File identifier of the record, in the master file (docs/chip.md). */
export const PREPERSO_RECORD_FID = 0x2f10;

export interface PrePersoRecord {
  bookletSerial: string;
  chipSerial: string;
  batchId: string;
  agencyCode: string;
  chipProfile: string;
  keyVersion: number;
}

const FIELDS = [
  [0xc1, 'bookletSerial'],
  [0xc2, 'chipSerial'],
  [0xc3, 'batchId'],
  [0xc4, 'agencyCode'],
  [0xc5, 'chipProfile'],
] as const;

/** A record that cannot be read as one: says which part is wrong. */
export class PrePersoRecordError extends Error {
  constructor(message: string) {
    super(`pre-personalization record: ${message}`);
    this.name = 'PrePersoRecordError';
  }
}

const PRINTABLE = /^[\x21-\x7e]{1,64}$/;

export function encodePrePersoRecord(r: PrePersoRecord): Buffer {
  for (const [, name] of FIELDS) {
    if (!PRINTABLE.test(r[name]))
      throw new PrePersoRecordError(`${name} must be 1-64 printable ASCII characters`);
  }
  if (!Number.isInteger(r.keyVersion) || r.keyVersion < 0 || r.keyVersion > 255)
    throw new PrePersoRecordError('keyVersion must be 0-255');
  return tlv(0x70, [
    ...FIELDS.map(([tag, name]) => tlv(tag, Buffer.from(r[name], 'ascii'))),
    tlv(0xc6, Buffer.from([r.keyVersion])),
  ]);
}

/** Decodes a record read from the chip; throws PrePersoRecordError naming the fault. */
export function decodePrePersoRecord(bytes: Uint8Array): PrePersoRecord {
  let children;
  try {
    const outer = decodeTlv(bytes);
    if (outer.tag !== 0x70)
      throw new PrePersoRecordError(`template tag is ${outer.tag.toString(16)}, expected 70`);
    children = decodeTlvList(outer.value);
  } catch (e) {
    if (e instanceof PrePersoRecordError) throw e;
    throw new PrePersoRecordError(e instanceof TlvError ? e.message : String(e));
  }
  const text = (tag: number, name: string): string => {
    const found = children.filter((c) => c.tag === tag);
    if (found.length !== 1)
      throw new PrePersoRecordError(
        found.length ? `${name} appears ${found.length} times` : `${name} is missing`,
      );
    const v = found[0]!.value.toString('latin1');
    if (!PRINTABLE.test(v))
      throw new PrePersoRecordError(`${name} is not 1-64 printable ASCII characters`);
    return v;
  };
  const kv = children.filter((c) => c.tag === 0xc6);
  if (kv.length !== 1 || kv[0]!.value.length !== 1)
    throw new PrePersoRecordError('keyVersion must appear once as one byte');
  return {
    bookletSerial: text(0xc1, 'bookletSerial'),
    chipSerial: text(0xc2, 'chipSerial'),
    batchId: text(0xc3, 'batchId'),
    agencyCode: text(0xc4, 'agencyCode'),
    chipProfile: text(0xc5, 'chipProfile'),
    keyVersion: kv[0]!.value[0]!,
  };
}
