import { createHash, createHmac } from 'node:crypto';
import { diversifyTransportKeys } from '../mrtd/transport-keys.ts';
import { z } from 'zod';
import { InputNotTextError, InputTooLargeError } from '../contracts/bounded-read.ts';
import { readStrictJsonFile } from '../contracts/strict-json.ts';

/** Chip behaviours the simulator knows (docs/hopper-format.md). */
export const CHIP_PROFILES = {
  /** Extended-length APDUs, 96 KB of memory. */
  'emrtd-ext-96k': {
    extendedLength: true,
    atsClaimsExtended: true,
    memory: 96 * 1024,
    answerVia61: false,
    strictLe: false,
  },
  /** Short APDUs only (command chaining), answers long data through 61xx / GET RESPONSE. */
  'emrtd-short-64k': {
    extendedLength: false,
    atsClaimsExtended: false,
    memory: 64 * 1024,
    answerVia61: true,
    strictLe: false,
  },
  /** Short APDUs only, answers a wrong Le with 6Cxx. */
  'emrtd-strict-64k': {
    extendedLength: false,
    atsClaimsExtended: false,
    memory: 64 * 1024,
    answerVia61: false,
    strictLe: true,
  },
  /** Announces extended length in its ATS but answers extended APDUs with 6700 (a real quirk). */
  'emrtd-quirky-64k': {
    extendedLength: false,
    atsClaimsExtended: true,
    memory: 64 * 1024,
    answerVia61: false,
    strictLe: false,
  },
} as const;
export type ChipProfileName = keyof typeof CHIP_PROFILES;
export type ChipProfile = (typeof CHIP_PROFILES)[ChipProfileName];

export const BOOKLET_FAULTS = [
  'dead-chip',
  'no-chip',
  'misprinted-serial',
  'unreadable-serial',
  'locked',
  'corrupt-record',
  // Print faults: what lands on the page (docs/hopper-format.md has their strengths).
  'smear-print',
  'smear-print-light',
  'shift-print',
  'fade-print',
  'misprint',
] as const;
export type BookletFault = (typeof BOOKLET_FAULTS)[number];

const hex = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `must be ${bytes} bytes of hex`);
const serial = z.string().regex(/^[A-Z0-9]{6,12}$/, 'must be 6-12 characters A-Z 0-9');

/** An agency code as the chip record carries it (docs/hopper-format.md). */
const agency = z.string().min(2).max(16);

// Strict objects: an unknown key (a typo such as "fault" for "faults") is an error, never a
// field silently dropped.
export const bookletSchema = z.strictObject({
  /** The serial printed in the booklet as the reader sees it (differs when misprinted). */
  printedSerial: serial,
  /** The serial the manufacturer assigned (written in the chip record); default printedSerial. */
  bookletSerial: serial.optional(),
  chipSerial: serial,
  chipUid: z
    .string()
    .regex(/^([0-9a-fA-F]{8}|[0-9a-fA-F]{14}|[0-9a-fA-F]{20})$/, 'must be 4, 7 or 10 bytes of hex'),
  agency,
  chipProfile: z.enum(Object.keys(CHIP_PROFILES) as [ChipProfileName, ...ChipProfileName[]]),
  /** The agency's chip profile id written in the chip record (default: chipProfile). */
  profileId: z.string().min(1).max(64).optional(),
  batch: z.string().min(1).max(16),
  keyVersion: z.number().int().min(0).max(255),
  transportKeys: z.strictObject({ enc: hex(16), mac: hex(16), dek: hex(16) }),
  /** Overrides of the pre-personalization record (normally derived from the fields above). */
  prePerso: z
    .strictObject({
      bookletSerial: serial.optional(),
      agency: agency.optional(),
      chipSerial: serial.optional(),
    })
    .optional(),
  faults: z.array(z.enum(BOOKLET_FAULTS)).max(BOOKLET_FAULTS.length).default([]),
});
export type Booklet = z.infer<typeof bookletSchema>;

/** More booklets than any input hopper holds; keeps a hopper file small. */
export const HOPPER_MAX_BOOKLETS = 10_000;
/** A hopper file of HOPPER_MAX_BOOKLETS pretty-printed booklets takes about 6 MiB. */
export const HOPPER_MAX_BYTES = 8 * 1024 * 1024;

export const hopperSchema = z.strictObject({
  version: z.literal(1),
  booklets: z.array(bookletSchema).max(HOPPER_MAX_BOOKLETS),
});
export type HopperFile = z.infer<typeof hopperSchema>;

/** Parses and validates a hopper document; the error names the offending field. */
export function parseHopper(doc: unknown, source = 'hopper'): HopperFile {
  const r = hopperSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
    throw new Error(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}${keys}`);
  }
  return r.data;
}

/** Reads a hopper file: at most HOPPER_MAX_BYTES, strict JSON (no key twice), then the schema. */
export function loadHopperFile(path: string): HopperFile {
  let doc: unknown;
  try {
    doc = readStrictJsonFile(path, { maxBytes: HOPPER_MAX_BYTES, what: `hopper file ${path}` });
  } catch (e) {
    if (e instanceof InputTooLargeError || e instanceof InputNotTextError) throw e;
    throw new Error(
      `cannot read hopper file ${path}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return parseHopper(doc, path);
}

/**
 * The development transport master key of an agency and key version: a fixed value derived
 * from the names, identical in the simulator and in `station dev seed`. Never a real key.
 */
export function devTransportMaster(agency: string, keyVersion: number): Buffer {
  return createHash('sha256')
    .update(`perso-station development transport master/${agency}/v${keyVersion}`)
    .digest()
    .subarray(0, 16);
}

/** A chip's transport keys, diversified from a master as the manufacturer does (docs/key-custody.md). */
export function chipTransportKeys(
  master: Uint8Array,
  chipSerial: string,
  chipUidHex: string,
): Booklet['transportKeys'] {
  const k = diversifyTransportKeys(master, {
    chipSerial,
    chipUid: Buffer.from(chipUidHex, 'hex'),
  });
  return { enc: k.enc.toString('hex'), mac: k.mac.toString('hex'), dek: k.dek.toString('hex') };
}

export interface BookletSpec {
  /** The booklet serial the manufacturer assigned. */
  serial: string;
  agency?: string;
  chipProfile?: ChipProfileName;
  /** The agency chip profile id in the chip record (default: the chip profile name). */
  profileId?: string;
  faults?: BookletFault[];
  batch?: string;
  printedSerial?: string;
  /** Chip serial (default: derived from the booklet serial, hexadecimal). */
  chipSerial?: string;
  keyVersion?: number;
  /** Transport master the chip's keys come from (default: the agency's development master). */
  master?: Uint8Array;
}

/** The default chip serial of a booklet serial: 10 hex digits derived from it. */
export function chipSerialFor(serial: string): string {
  return (
    'C' + createHmac('sha256', 'chip-serial').update(serial).digest('hex').slice(0, 9).toUpperCase()
  );
}

/** The default UID of a chip: an NXP-style 7-byte UID derived from the booklet serial. */
export function chipUidFor(serial: string): string {
  const uid = createHmac('sha256', 'uid').update(serial).digest().subarray(0, 7);
  uid[0] = 0x04;
  return uid.toString('hex').toUpperCase();
}

/** Our agency in the simulator's default scenarios. */
export const SIM_AGENCY = 'PER-MIGRACIONES';

/** Builds a booklet with derived chip serial, UID and transport keys. */
export function makeBooklet(spec: BookletSpec): Booklet {
  const agency = spec.agency ?? SIM_AGENCY;
  const keyVersion = spec.keyVersion ?? 1;
  const chipSerial = spec.chipSerial ?? chipSerialFor(spec.serial);
  const chipUid = chipUidFor(spec.serial);
  const master = spec.master ?? devTransportMaster(agency, keyVersion);
  return {
    printedSerial: spec.printedSerial ?? spec.serial,
    bookletSerial: spec.serial,
    chipSerial,
    chipUid,
    agency,
    chipProfile: spec.chipProfile ?? 'emrtd-ext-96k',
    ...(spec.profileId ? { profileId: spec.profileId } : {}),
    batch: spec.batch ?? 'B2026-0001',
    keyVersion,
    transportKeys: chipTransportKeys(master, chipSerial, chipUid),
    faults: spec.faults ?? [],
  };
}

/** A realistic default mix: mostly good booklets of both chip families, a few faulty ones. */
export function defaultHopper(count = 20, prefix = 'PA', start = 1000001): HopperFile {
  const booklets: Booklet[] = [];
  const profiles: ChipProfileName[] = [
    'emrtd-ext-96k',
    'emrtd-ext-96k',
    'emrtd-short-64k',
    'emrtd-strict-64k',
  ];
  for (let i = 0; i < count; i++) {
    const serial = `${prefix}${start + i}`;
    const faults: BookletFault[] = [];
    let printedSerial: string | undefined;
    if (i === 6) faults.push('misprinted-serial');
    if (i === 9) faults.push('dead-chip');
    if (i === 13) faults.push('unreadable-serial');
    if (i === 16) faults.push('locked');
    if (faults.includes('misprinted-serial')) printedSerial = `${prefix}${start + i + 500}`;
    const spec: BookletSpec = { serial, chipProfile: profiles[i % profiles.length]!, faults };
    if (printedSerial) spec.printedSerial = printedSerial;
    booklets.push(makeBooklet(spec));
  }
  return { version: 1, booklets };
}
