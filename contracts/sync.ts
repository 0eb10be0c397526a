/**
 * The sync contract between a station and the central office (docs/sync.md): every request and
 * response body, the signed request headers and the signed offline allowance. Both sides parse
 * bodies with contracts/strict-json.ts parseStrictJson (duplicate keys refused), then with these
 * strict schemas (unknown fields refused, every string and list bounded). Version: the
 * `protocol` field; a change that an older side would misread gets a new version.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { parseStrictJson } from './strict-json.ts';

export const SYNC_PROTOCOL = 'perso-sync/1';

export const SYNC_LIMITS = {
  /** Largest request or response body (a pull of applications with images is the biggest). */
  maxBodyBytes: 32 * 1024 * 1024,
  maxRecordsPerPush: 1000,
  maxAuditEntriesPerPush: 2000,
  /** A record payload or an audit entry's details, as JSON text. */
  maxPayloadChars: 64 * 1024,
  maxPullItems: 500,
  /** A request's timestamp may differ from the central office's clock by this much. */
  clockSkewMs: 5 * 60 * 1000,
} as const;

// --- Shared pieces -------------------------------------------------------------------------

export const stationIdSchema = z.string().regex(/^[A-Z0-9][A-Z0-9-]{1,39}$/, 'station id');
const iso = z.iso.datetime({ offset: false });
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, '64 hex digits');
const b64 = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const pem = z
  .string()
  .max(4096)
  .regex(/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$/, 'SPKI PEM');
const jsonBounded = (max: number) =>
  z.json().refine((v) => JSON.stringify(v).length <= max, `at most ${max} characters of JSON`);
const serial = z.string().regex(/^[A-Z0-9]{4,20}$/, 'booklet serial');
export const BOOKLET_STATES = [
  'received',
  'allocated',
  'in_process',
  'issued',
  'spoiled',
  'voided',
  'refused',
  'test_consumed',
  'lost_stolen',
  'returned',
] as const;

/** Every error the central office answers, with `error.code` one of these. */
export const SYNC_ERROR_CODES = [
  'AUTH_MISSING', // a signed-request header is absent or malformed
  'UNKNOWN_STATION', // no enrolled station with that id
  'REVOKED_STATION',
  'STALE_REQUEST', // timestamp outside SYNC_LIMITS.clockSkewMs
  'REPLAYED_REQUEST', // nonce already seen for this station
  'BAD_DIGEST', // body does not match its SHA-256 header
  'BAD_SIGNATURE',
  'STATION_MISMATCH', // body names another station than the signed headers
  'INVALID_BODY', // not strict JSON, or fails the schema (message names the field)
  'PROTOCOL_UNSUPPORTED',
  'BODY_TOO_LARGE',
  'ENROL_CODE_INVALID', // unknown, used, expired, or issued for another station
  'ENROL_RATE_LIMITED', // too many wrong codes for that station id or from that address
  'SEQ_GAP', // batch starts after the next expected seq: `expectedSeq` says where to resume
  'SEQ_CONFLICT', // an already stored seq arrives with another record
  'ADMIN_UNAUTHORIZED',
  'NOT_FOUND',
  'INTERNAL',
] as const;
export type SyncErrorCode = (typeof SYNC_ERROR_CODES)[number];
export const syncErrorSchema = z.strictObject({
  error: z.strictObject({
    code: z.enum(SYNC_ERROR_CODES),
    message: z.string().max(2000),
    expectedSeq: z.number().int().min(1).optional(),
    /** ENROL_RATE_LIMITED: when to try again (also the Retry-After header). */
    retryAfterSeconds: z.number().int().min(1).optional(),
  }),
});
export type SyncError = z.infer<typeof syncErrorSchema>;

// --- Signed requests -----------------------------------------------------------------------

/** Header names (lower case, as Node gives them). Every request but /v1/enrol's code check is
 * signed; /v1/enrol is signed too, with the key it enrols (proof of possession). */
export const SYNC_HEADERS = {
  station: 'x-perso-station',
  timestamp: 'x-perso-timestamp', // ISO 8601 UTC with milliseconds
  nonce: 'x-perso-nonce', // 16-64 chars [A-Za-z0-9_-], never reused by the station
  digest: 'x-perso-content-sha256', // hex SHA-256 of the exact body bytes ('' for none)
  signature: 'x-perso-signature', // base64; ECDSA P-256 (IEEE P1363 r||s, SHA-256) or Ed25519
} as const;
export const nonceSchema = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'nonce');

export const bodyDigest = (body: string | Buffer): string =>
  createHash('sha256').update(body).digest('hex');

/** The exact bytes a station signs: path includes the query string, if any. */
export function signingStatement(r: {
  method: string;
  path: string;
  digest: string;
  timestamp: string;
  nonce: string;
  stationId: string;
}): Buffer {
  return Buffer.from(
    `${SYNC_PROTOCOL}\n${r.method.toUpperCase()}\n${r.path}\n${r.digest}\n${r.timestamp}\n${r.nonce}\n${r.stationId}`,
    'utf8',
  );
}

export type StationKeyAlgorithm = 'ecdsa-p256' | 'ed25519';

/** The algorithm of a public or private key, or an error naming what it is instead. */
export function keyAlgorithm(key: KeyObject): StationKeyAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'ecdsa-p256';
  throw new Error('station keys are ECDSA P-256 or Ed25519');
}

export function signWith(privateKey: KeyObject, data: Buffer): string {
  const alg = keyAlgorithm(privateKey);
  return (
    alg === 'ed25519'
      ? sign(null, data, privateKey)
      : sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
  ).toString('base64');
}

export function verifyWith(publicKey: KeyObject | string, data: Buffer, sigB64: string): boolean {
  try {
    const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
    const sig = Buffer.from(sigB64, 'base64');
    return keyAlgorithm(key) === 'ed25519'
      ? verify(null, data, key, sig)
      : verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}

/** The headers of a signed request (the station side's one call). */
export function signRequest(a: {
  privateKey: KeyObject;
  stationId: string;
  method: string;
  path: string;
  body: string;
  nonce: string;
  at?: Date;
}): Record<string, string> {
  const timestamp = (a.at ?? new Date()).toISOString();
  const digest = bodyDigest(a.body);
  const statement = signingStatement({ ...a, digest, timestamp });
  return {
    [SYNC_HEADERS.station]: a.stationId,
    [SYNC_HEADERS.timestamp]: timestamp,
    [SYNC_HEADERS.nonce]: a.nonce,
    [SYNC_HEADERS.digest]: digest,
    [SYNC_HEADERS.signature]: signWith(a.privateKey, statement),
  };
}

// --- Enrolment: POST /v1/enrol -------------------------------------------------------------

export const enrolRequestSchema = z.strictObject({
  protocol: z.literal(SYNC_PROTOCOL),
  stationId: stationIdSchema,
  /** The one-time code a central-office admin issued for this station id. */
  code: z.string().regex(/^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/, 'enrolment code XXXX-XXXX-XXXX-XXXX'),
  /** The station's request-signing key (SPKI PEM), ECDSA P-256 or Ed25519. */
  publicKey: pem,
  /** The station audit key (`station audit public-key`), ECDSA P-256. */
  auditPublicKey: pem,
});
export type EnrolRequest = z.infer<typeof enrolRequestSchema>;

export const enrolResponseSchema = z.strictObject({
  protocol: z.literal(SYNC_PROTOCOL),
  stationId: stationIdSchema,
  enrolledAt: iso,
  /** The central office key (ECDSA P-256) that signs offline allowances. */
  centralPublicKey: pem,
  centralKeyId: hex64,
});
export type EnrolResponse = z.infer<typeof enrolResponseSchema>;

// --- Push: POST /v1/push -------------------------------------------------------------------

export const auditHeadSchema = z.strictObject({
  seq: z.number().int().min(0),
  hash: hex64,
  signature: b64(200).nullable(),
});

/** One outbox record. `seq` is the station's delivery order: 1, 2, 3... with no gaps. */
export const pushRecordSchema = z.strictObject({
  seq: z.number().int().min(1),
  /** issuance, spoilage, intake.refusal, stock.received, stock.allocated, stock.event,
   * test_job.result, ... (docs/sync.md). Unknown kinds are stored, not interpreted. */
  kind: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'record kind'),
  idempotencyKey: z.string().min(1).max(128),
  createdAt: iso,
  payload: jsonBounded(SYNC_LIMITS.maxPayloadChars),
  auditHead: auditHeadSchema.nullable(),
});
export type PushRecord = z.infer<typeof pushRecordSchema>;

/** One audit entry exactly as the station stored it: `details` is the JSON text that was
 * hashed, so the central office recomputes the hash from the same bytes. */
export const pushAuditEntrySchema = z.strictObject({
  seq: z.number().int().min(1),
  at: z.string().max(40),
  actor: z.string().max(200),
  stationId: z.string().max(64),
  action: z.string().max(100),
  details: z.string().max(SYNC_LIMITS.maxPayloadChars),
  prevHash: hex64,
  hash: hex64,
  signature: b64(200).nullable(),
});
export type PushAuditEntry = z.infer<typeof pushAuditEntrySchema>;

export const stockOnHandSchema = z.strictObject({
  asOf: iso,
  /** Booklets this station holds, by state and class (counts > 0 only). */
  byState: z
    .array(
      z.strictObject({
        state: z.enum(BOOKLET_STATES),
        stockClass: z.enum(['production', 'test']),
        count: z.number().int().min(0).max(10_000_000),
      }),
    )
    .max(40),
});
export type StockOnHand = z.infer<typeof stockOnHandSchema>;

export const pushRequestSchema = z.strictObject({
  protocol: z.literal(SYNC_PROTOCOL),
  stationId: stationIdSchema,
  /** Ascending, contiguous seqs; may start at or below the last acknowledged one (a retry). */
  records: z.array(pushRecordSchema).max(SYNC_LIMITS.maxRecordsPerPush),
  /** Ascending audit seqs from the station's audit log, acknowledged separately. A seq missing
   * from the chain is not refused: the central office flags it as removed (docs/sync.md). */
  auditEntries: z.array(pushAuditEntrySchema).max(SYNC_LIMITS.maxAuditEntriesPerPush),
  stock: stockOnHandSchema,
  /** What is still waiting in the station's outbox after this batch. */
  outbox: z.strictObject({
    waiting: z.number().int().min(0),
    oldestWaitingAt: iso.nullable(),
  }),
});
export type PushRequest = z.infer<typeof pushRequestSchema>;

export const pushResponseSchema = z.strictObject({
  protocol: z.literal(SYNC_PROTOCOL),
  /** Every record with seq <= ackedSeq is stored at the central office (0: none yet). */
  ackedSeq: z.number().int().min(0),
  auditAckedSeq: z.number().int().min(0),
  /** Records of this batch stored now, and those already stored before (a retry). */
  stored: z.number().int().min(0),
  duplicates: z.number().int().min(0),
  serverTime: iso,
});
export type PushResponse = z.infer<typeof pushResponseSchema>;

// --- Pull: POST /v1/pull -------------------------------------------------------------------

export const pullRequestSchema = z.strictObject({
  protocol: z.literal(SYNC_PROTOCOL),
  stationId: stationIdSchema,
  /** The last item seq the station has applied (0 at first). */
  cursor: z.number().int().min(0),
  limit: z.number().int().min(1).max(SYNC_LIMITS.maxPullItems).optional(),
});
export type PullRequest = z.infer<typeof pullRequestSchema>;

const obj = z.record(z.string().max(100), z.json());
export const pullItemSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    seq: z.number().int().min(1),
    kind: z.literal('application'),
    applicationId: z.string().min(1).max(64),
    /** The application in docs/application-format.md; image fields name entries of `images`. */
    application: obj,
    images: z
      .array(
        z.strictObject({
          name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
          mediaType: z.enum(['image/jpeg', 'image/jp2']),
          base64: b64(8 * 1024 * 1024),
        }),
      )
      .max(4),
  }),
  /** A signed stock manifest, as docs/manifest-format.md. */
  z.strictObject({ seq: z.number().int().min(1), kind: z.literal('manifest'), manifest: obj }),
  z.strictObject({
    seq: z.number().int().min(1),
    kind: z.literal('allocation'),
    batchId: z.string().min(1).max(64),
    serials: z.array(serial).min(1).max(10_000),
  }),
  /** A change to the lost/stolen list. */
  z.strictObject({
    seq: z.number().int().min(1),
    kind: z.literal('lost_stolen'),
    serial,
    status: z.enum(['lost', 'stolen', 'cleared']),
    reportedAt: iso,
  }),
  z.strictObject({ seq: z.number().int().min(1), kind: z.literal('chip_profile'), profile: obj }),
  z.strictObject({
    seq: z.number().int().min(1),
    kind: z.literal('agency_settings'),
    settings: obj,
  }),
  /** Users and roles; credentials are set at the station, never sent. */
  z.strictObject({
    seq: z.number().int().min(1),
    kind: z.literal('user'),
    username: z.string().regex(/^[a-z][a-z0-9._-]{1,31}$/),
    roles: z.array(z.enum(['operator', 'supervisor', 'technician', 'admin'])).max(4),
    active: z.boolean(),
  }),
]);
export type PullItem = z.infer<typeof pullItemSchema>;

/**
 * The limits of an offline allowance: what the central office sets (its settings) and signs
 * into each station's allowance.
 */
export const offlineLimitsShape = {
  maxOfflineHours: z
    .number()
    .int()
    .min(0)
    .max(24 * 90),
  maxOfflineIssuances: z.number().int().min(0).max(1_000_000),
  maxLostStolenAgeHours: z
    .number()
    .int()
    .min(0)
    .max(24 * 90),
  /** Personal data of an acknowledged issuance is erased this long after acknowledgement. */
  retentionHours: z
    .number()
    .int()
    .min(0)
    .max(24 * 3650),
};

/** What the central office allows a station while it cannot reach it. */
export const offlineAllowanceSchema = z.strictObject({
  format: z.literal('perso-sync/offline-allowance@1'),
  stationId: stationIdSchema,
  issuedAt: iso,
  ...offlineLimitsShape,
});
export type OfflineAllowance = z.infer<typeof offlineAllowanceSchema>;

/** The bytes the central office key signs for an allowance (every field, in this order). */
export function allowanceStatement(a: OfflineAllowance): Buffer {
  return Buffer.from(
    [
      a.format,
      a.stationId,
      a.issuedAt,
      a.maxOfflineHours,
      a.maxOfflineIssuances,
      a.maxLostStolenAgeHours,
      a.retentionHours,
    ].join('\n'),
    'utf8',
  );
}

export const signedAllowanceSchema = z.strictObject({
  allowance: offlineAllowanceSchema,
  /** ECDSA P-256 / SHA-256, IEEE P1363, base64, by the central key of the enrolment answer. */
  signature: b64(200),
  keyId: hex64,
});
export type SignedAllowance = z.infer<typeof signedAllowanceSchema>;

/** Verifies a signed allowance for `stationId` with the central key from enrolment. */
export function verifyAllowance(
  s: SignedAllowance,
  centralPublicKey: KeyObject | string,
  stationId: string,
): boolean {
  return (
    s.allowance.stationId === stationId &&
    verifyWith(centralPublicKey, allowanceStatement(s.allowance), s.signature)
  );
}

export const pullResponseSchema = z.strictObject({
  protocol: z.literal(SYNC_PROTOCOL),
  items: z.array(pullItemSchema).max(SYNC_LIMITS.maxPullItems),
  /** Send this as the next cursor once the items are applied. */
  cursor: z.number().int().min(0),
  /** More items wait after `cursor`: pull again. */
  more: z.boolean(),
  allowance: signedAllowanceSchema,
  /** The lost/stolen list up to `cursor` is current as of this time (for maxLostStolenAgeHours). */
  lostStolenAsOf: iso,
  serverTime: iso,
});
export type PullResponse = z.infer<typeof pullResponseSchema>;

/** A body that is not strict JSON or fails its schema; `message` names the field. */
export class SyncBodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncBodyError';
  }
}

/** Parses a body the way both sides must: strict JSON (duplicate keys refused), then the
 * schema. Throws SyncBodyError naming the first field that is wrong. */
export function parseSyncBody<S extends z.ZodType>(text: string, schema: S): z.output<S> {
  let json: unknown;
  try {
    json = parseStrictJson(text);
  } catch (e) {
    throw new SyncBodyError((e as Error).message);
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new SyncBodyError(i ? `${i.path.join('.') || 'body'}: ${i.message}` : 'invalid body');
  }
  return r.data;
}
