/**
 * An approved application (docs/application-format.md) turned into the LDS: validation with
 * precise errors, the MRZ, every data group, EF.COM, and the signed EF.SOD.
 */
import { z } from 'zod';
import {
  type Dg11,
  type Dg12,
  type FaceImage,
  type SecurityInfosSpec,
  dg1,
  dg11,
  dg12,
  dg14,
  dg15,
  dg2,
  dg7,
  efCardAccess,
  efCom,
  faceImage,
} from './lds.ts';
import { MrzError, type MrzFieldError, type MrzInput, encodeTd3 } from './mrz.ts';
import { type DocumentSigner, type HashAlgorithm } from './signer.ts';
import { signSod } from './sod.ts';

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be an ISO date YYYY-MM-DD');
const text = z.string().min(1).max(500);

/** DG11 fields in the application JSON. */
const personalDetails = z
  .object({
    fullName: text.optional(),
    personalNumber: text.optional(),
    fullDateOfBirth: isoDate.optional(),
    placeOfBirth: text.optional(),
    address: text.optional(),
    telephone: text.optional(),
    profession: text.optional(),
    title: text.optional(),
  })
  .strict();

/** DG12 fields in the application JSON. */
const documentDetails = z
  .object({
    issuingAuthority: text.optional(),
    dateOfIssue: isoDate.optional(),
    endorsements: text.optional(),
    taxOrExitRequirements: text.optional(),
    personalizationDateTime: z
      .string()
      .regex(
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?$/,
        'must be an ISO date-time YYYY-MM-DDThh:mm:ss',
      )
      .optional(),
    personalizationSystemSerial: text.optional(),
  })
  .strict();

/** Longer than any MRZ field; the MRZ rules check each field's exact form. */
const mrzText = z.string().max(64);
/** Names are cut to fit the MRZ, but kept whole in the printed page and DG11. */
const nameText = z.string().max(200);
/** Linux's PATH_MAX. */
const imagePath = z.string().min(1).max(4096);

export const applicationSchema = z
  .object({
    documentCode: mrzText,
    issuingState: mrzText,
    surname: nameText,
    givenNames: nameText,
    documentNumber: mrzText,
    nationality: mrzText,
    dateOfBirth: mrzText,
    dateOfExpiry: mrzText,
    sex: mrzText,
    personalNumber: mrzText.optional(),
    faceImage: imagePath.optional(),
    signatureImage: imagePath.optional(),
    additionalPersonalDetails: personalDetails.optional(),
    additionalDocumentDetails: documentDetails.optional(),
  })
  .strict();

export type Application = z.infer<typeof applicationSchema>;

/** An application that cannot be personalized, with every problem found. */
export class ApplicationError extends Error {
  constructor(readonly errors: MrzFieldError[]) {
    super(
      errors
        .map(
          (e) =>
            `${e.field}: ${e.reason}${e.value !== '' ? ` (got ${JSON.stringify(e.value)})` : ''}`,
        )
        .join('; '),
    );
    this.name = 'ApplicationError';
  }
}

/** The largest application file: text fields and image paths, never the images themselves. */
export const APPLICATION_MAX_BYTES = 256 * 1024;

export interface ParseApplicationOptions {
  /**
   * The day the document is issued, when the application does not say
   * (`additionalDocumentDetails.dateOfIssue`). Default: today (UTC).
   */
  issuedOn?: Date;
}

/**
 * Validates untrusted JSON as an application (shape first, then every MRZ rule, then the
 * date window). Errors name the field; an unknown key is named, never echoed with its value.
 */
export function parseApplication(json: unknown, opts: ParseApplicationOptions = {}): Application {
  const r = applicationSchema.safeParse(json);
  if (!r.success) {
    const errors: MrzFieldError[] = r.error.issues.flatMap((i) => {
      const at = i.path.join('.');
      // An unknown key is reported by name: its value may be anything, personal data included.
      if (i.code === 'unrecognized_keys')
        return i.keys.map((k) => ({
          field: at ? `${at}.${k}` : k,
          value: '',
          reason: 'is not a field of an application (docs/application-format.md)',
        }));
      let value: unknown = json;
      for (const k of i.path)
        value = (value as Record<PropertyKey, unknown> | undefined)?.[k as string];
      return [
        {
          field: at || '(application)',
          // Only a field's own scalar value is echoed, never an object holding other fields.
          value:
            value === undefined || (typeof value === 'object' && value !== null)
              ? ''
              : typeof value === 'string'
                ? value
                : JSON.stringify(value),
          reason: i.code === 'invalid_type' && value === undefined ? 'is required' : i.message,
        },
      ];
    });
    // Report the MRZ rules too, for the fields whose shape was right, so one pass shows all.
    if (json !== null && typeof json === 'object' && !Array.isArray(json)) {
      const seen = new Set(errors.map((x) => x.field));
      try {
        encodeTd3(json as MrzInput);
      } catch (e) {
        if (!(e instanceof MrzError)) throw e;
        for (const x of e.errors) if (!seen.has(x.field)) errors.push(x);
      }
      for (const x of dateWindowErrors(json as Partial<Application>, opts))
        if (!seen.has(x.field)) errors.push(x);
    }
    throw new ApplicationError(errors);
  }
  // Run the MRZ rules now so that an invalid application never gets further.
  let mrzErrors: MrzFieldError[] = [];
  try {
    mrzOf(r.data);
  } catch (e) {
    if (!(e instanceof ApplicationError)) throw e;
    mrzErrors = e.errors;
  }
  const seen = new Set(mrzErrors.map((x) => x.field));
  const errors = [
    ...mrzErrors,
    ...dateWindowErrors(r.data, opts).filter((x) => !seen.has(x.field)),
  ];
  if (errors.length) throw new ApplicationError(errors);
  return r.data;
}

/** Years a reader can tell apart around the date of issue (docs/application-format.md). */
const BIRTH_WINDOW_YEARS = 100;
const EXPIRY_WINDOW_YEARS = 50;

const ISO_DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
function isoDay(v: unknown): string | undefined {
  return typeof v === 'string' && ISO_DAY.test(v) ? v : undefined;
}
function addYears(iso: string, years: number): string {
  return `${String(Number(iso.slice(0, 4)) + years).padStart(4, '0')}${iso.slice(4)}`;
}

/**
 * The MRZ writes years with two digits, so a reader must guess the century: a date of birth
 * as the latest such date not after the day it is read, a date of expiry as the one nearest
 * to it. Refuses dates outside the window where that guess is right on the day of issue:
 * birth on or before the issue date and less than 100 years before it, expiry after the issue
 * date and less than 50 years after it. Dates that are not ISO days are left to the MRZ rules.
 */
function dateWindowErrors(
  app: Partial<Application>,
  opts: ParseApplicationOptions,
): MrzFieldError[] {
  const fromApp = isoDay(app.additionalDocumentDetails?.dateOfIssue);
  const issued = fromApp ?? (opts.issuedOn ?? new Date()).toISOString().slice(0, 10);
  const issueName = fromApp
    ? `the date of issue ${issued}`
    : `the date of issue (today, ${issued})`;
  const errors: MrzFieldError[] = [];
  const birth = isoDay(app.dateOfBirth);
  if (birth && birth > issued)
    errors.push({ field: 'dateOfBirth', value: birth, reason: `is after ${issueName}` });
  else if (birth && birth <= addYears(issued, -BIRTH_WINDOW_YEARS))
    errors.push({
      field: 'dateOfBirth',
      value: birth,
      reason: `is ${BIRTH_WINDOW_YEARS} years or more before ${issueName}: the MRZ's two-digit year would read as a century later`,
    });
  const expiry = isoDay(app.dateOfExpiry);
  if (expiry && expiry <= issued)
    errors.push({ field: 'dateOfExpiry', value: expiry, reason: `is not after ${issueName}` });
  else if (expiry && expiry >= addYears(issued, EXPIRY_WINDOW_YEARS))
    errors.push({
      field: 'dateOfExpiry',
      value: expiry,
      reason: `is ${EXPIRY_WINDOW_YEARS} years or more after ${issueName}: the MRZ's two-digit year would read as a century earlier`,
    });
  return errors;
}

/** The two MRZ lines of an application; throws ApplicationError listing every bad field. */
export function mrzOf(app: Application): { line1: string; line2: string; nameTruncated: boolean } {
  try {
    return encodeTd3(app as MrzInput);
  } catch (e) {
    if (e instanceof MrzError) throw new ApplicationError(e.errors);
    throw e;
  }
}

const compactDate = (iso: string | undefined): string | undefined => iso?.replace(/[-:TZ]/g, '');

/** What the chip profile asks for beyond the mandatory DG1, DG2 and EF.SOD. */
export interface ChipProfileOptions extends SecurityInfosSpec {
  /** Active Authentication public key (SubjectPublicKeyInfo DER): writes DG15. */
  activeAuthenticationPublicKey?: Uint8Array;
  /** LDS version for EF.COM (default 0107, matching an LDSSecurityObject v0). */
  ldsVersion?: string;
}

export interface LdsImages {
  face: Uint8Array;
  signature?: Uint8Array;
}

/** Every LDS file by name, in write order; data groups also by number for the SOD. */
export interface Lds {
  files: Map<string, Buffer>;
  dataGroups: Map<number, Buffer>;
  mrz: string;
}

/** Builds every LDS file except EF.SOD. */
export function buildLds(
  app: Application,
  images: LdsImages,
  profile: ChipProfileOptions = {},
): Lds {
  const m = mrzOf(app);
  const mrz = m.line1 + m.line2;
  const groups = new Map<number, Buffer>();
  groups.set(1, dg1.encode(mrz));
  const gender: FaceImage['gender'] = app.sex === 'M' ? 'M' : app.sex === 'F' ? 'F' : 'unspecified';
  groups.set(2, dg2.encode([faceImage(images.face, gender)]));
  if (images.signature) groups.set(7, dg7.encode([images.signature]));
  const p = app.additionalPersonalDetails;
  if (p) {
    const v: Dg11 = { ...p, fullDateOfBirth: compactDate(p.fullDateOfBirth) };
    if (dg11.hasData(v)) groups.set(11, dg11.encode(v));
  }
  const d = app.additionalDocumentDetails;
  if (d) {
    const v: Dg12 = {
      ...d,
      dateOfIssue: compactDate(d.dateOfIssue),
      personalizationDateTime: compactDate(d.personalizationDateTime),
    };
    if (dg12.hasData(v)) groups.set(12, dg12.encode(v));
  }
  const aaEc = profile.activeAuthenticationPublicKey
    ? isEcSpki(profile.activeAuthenticationPublicKey)
    : false;
  if (profile.pace || profile.chipAuthenticationPublicKey || aaEc)
    groups.set(14, dg14.encode({ ...profile, activeAuthenticationEcdsa: aaEc }));
  if (profile.activeAuthenticationPublicKey)
    groups.set(15, dg15.encode(profile.activeAuthenticationPublicKey));

  const files = new Map<string, Buffer>();
  if (profile.pace) files.set('EF.CardAccess', efCardAccess.encode(profile));
  files.set(
    'EF.COM',
    efCom.encode({
      ldsVersion: profile.ldsVersion ?? '0107',
      unicodeVersion: '040000',
      dataGroups: [...groups.keys()],
    }),
  );
  for (const [n, b] of groups) files.set(`DG${n}`, b);
  return { files, dataGroups: groups, mrz };
}

function isEcSpki(spki: Uint8Array): boolean {
  // id-ecPublicKey 1.2.840.10045.2.1 appears in the AlgorithmIdentifier of an EC key.
  return Buffer.from(spki).includes(Buffer.from('06072a8648ce3d0201', 'hex'));
}

/** Signs the LDS: adds EF.SOD to `lds.files` and returns its bytes. */
export async function signLds(
  lds: Lds,
  opts: {
    signer: DocumentSigner;
    dsCertificate: Uint8Array;
    hash?: HashAlgorithm;
    signingTime?: Date;
  },
): Promise<Buffer> {
  const sod = await signSod(lds.dataGroups, opts);
  lds.files.set('EF.SOD', sod);
  return sod;
}

// --- Queued applications (station/applications) --------------------------------------------
// An application in the station's queue has no document number yet: the printed serial of the
// booklet that intake clears becomes it. Validation reuses parseApplication with a placeholder
// number, so every rule an Application obeys (and any rule added there later) applies here too.

/** An approved application as queued: every field of an Application except the number. */
export const queuedApplicationSchema = applicationSchema.omit({ documentNumber: true });

export type QueuedApplication = z.infer<typeof queuedApplicationSchema>;

// Valid for the MRZ (9 characters A-Z 0-9), never returned: it only lets the MRZ rules run.
const PLACEHOLDER_DOCUMENT_NUMBER = 'Q00000000';

/** Validates untrusted JSON as a queued application: an Application without documentNumber.
 * A documentNumber in the input is refused, naming the field. */
export function parseQueuedApplication(json: unknown): QueuedApplication {
  const errors: MrzFieldError[] = [];
  let candidate = json;
  if (json !== null && typeof json === 'object' && !Array.isArray(json)) {
    const given = (json as Record<string, unknown>).documentNumber;
    if (given !== undefined)
      errors.push({
        field: 'documentNumber',
        value: typeof given === 'string' ? given : JSON.stringify(given),
        reason: 'must not be given: the printed serial of the booklet becomes the document number',
      });
    candidate = { ...json, documentNumber: PLACEHOLDER_DOCUMENT_NUMBER };
  }
  let app: Application | undefined;
  try {
    app = parseApplication(candidate);
  } catch (e) {
    if (!(e instanceof ApplicationError)) throw e;
    errors.push(...e.errors.filter((x) => x.field !== 'documentNumber'));
  }
  if (errors.length > 0 || !app) throw new ApplicationError(errors);
  const { documentNumber: _placeholder, ...queued } = app;
  return queued;
}

/** The full Application once the booklet's document number is known (validated again). */
export function withDocumentNumber(app: QueuedApplication, documentNumber: string): Application {
  return parseApplication({ ...app, documentNumber });
}
