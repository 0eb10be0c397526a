import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

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
] as const;
export type BookletFault = (typeof BOOKLET_FAULTS)[number];

const hex = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `must be ${bytes} bytes of hex`);
const serial = z.string().regex(/^[A-Z0-9]{6,12}$/, 'must be 6-12 characters A-Z 0-9');

export const bookletSchema = z.object({
  printedSerial: serial,
  chipSerial: serial,
  chipUid: z
    .string()
    .regex(/^([0-9a-fA-F]{8}|[0-9a-fA-F]{14}|[0-9a-fA-F]{20})$/, 'must be 4, 7 or 10 bytes of hex'),
  agency: z.string().min(2).max(16),
  chipProfile: z.enum(Object.keys(CHIP_PROFILES) as [ChipProfileName, ...ChipProfileName[]]),
  batch: z.string().min(1).max(16),
  keyVersion: z.number().int().min(0).max(255),
  transportKeys: z.object({ enc: hex(16), mac: hex(16), dek: hex(16) }),
  /** Overrides of the pre-personalization record (normally derived from the fields above). */
  prePerso: z
    .object({ bookletSerial: serial.optional(), agency: z.string().optional() })
    .optional(),
  faults: z.array(z.enum(BOOKLET_FAULTS)).default([]),
});
export type Booklet = z.infer<typeof bookletSchema>;

export const hopperSchema = z.object({
  version: z.literal(1),
  booklets: z.array(bookletSchema),
});
export type HopperFile = z.infer<typeof hopperSchema>;

/** Parses and validates a hopper document; the error names the offending field. */
export function parseHopper(doc: unknown, source = 'hopper'): HopperFile {
  const r = hopperSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data;
}

export function loadHopperFile(path: string): HopperFile {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(
      `cannot read hopper file ${path}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return parseHopper(doc, path);
}

/** Transport keys diversified per chip from an agency master secret (simulation only). */
export function diversifyKeys(agencySecret: string, chipSerial: string): Booklet['transportKeys'] {
  const k = (label: string): string =>
    createHmac('sha256', agencySecret)
      .update(`${label}:${chipSerial}`)
      .digest()
      .subarray(0, 16)
      .toString('hex');
  return { enc: k('ENC'), mac: k('MAC'), dek: k('DEK') };
}

export interface BookletSpec {
  serial: string;
  agency?: string;
  chipProfile?: ChipProfileName;
  faults?: BookletFault[];
  batch?: string;
  printedSerial?: string;
}

/** The agency secret the simulator derives transport keys from (never a real key). */
export function simulatedAgencySecret(agency: string): string {
  return `perso-sim-transport-master/${agency}`;
}

/** Builds a booklet with derived UID and keys. */
export function makeBooklet(spec: BookletSpec): Booklet {
  const agency = spec.agency ?? 'PE-MIGRACIONES';
  const uid = createHmac('sha256', 'uid').update(spec.serial).digest().subarray(0, 7);
  uid[0] = 0x04; // NXP-style 7-byte UID
  return {
    printedSerial: spec.printedSerial ?? spec.serial,
    chipSerial: spec.serial,
    chipUid: uid.toString('hex').toUpperCase(),
    agency,
    chipProfile: spec.chipProfile ?? 'emrtd-ext-96k',
    batch: spec.batch ?? 'B2026-0001',
    keyVersion: 1,
    transportKeys: diversifyKeys(simulatedAgencySecret(agency), spec.serial),
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
