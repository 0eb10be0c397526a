import type { SyncErrorCode } from '../contracts/sync.ts';

const STATUS: Partial<Record<SyncErrorCode, number>> = {
  AUTH_MISSING: 401,
  UNKNOWN_STATION: 401,
  REVOKED_STATION: 403,
  STALE_REQUEST: 401,
  REPLAYED_REQUEST: 401,
  BAD_DIGEST: 400,
  BAD_SIGNATURE: 401,
  STATION_MISMATCH: 403,
  INVALID_BODY: 400,
  PROTOCOL_UNSUPPORTED: 400,
  BODY_TOO_LARGE: 413,
  ENROL_CODE_INVALID: 403,
  ENROL_RATE_LIMITED: 429,
  SEQ_GAP: 409,
  SEQ_CONFLICT: 409,
  ADMIN_UNAUTHORIZED: 401,
  NOT_FOUND: 404,
};

/** A refusal the central office answers as `{ error: { code, message, ... } }`. Messages name
 * what is wrong and never carry a secret (a code, a signature, a key). */
export class CentralError extends Error {
  readonly status: number;
  constructor(
    readonly code: SyncErrorCode,
    message: string,
    readonly extra: { expectedSeq?: number; retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.name = 'CentralError';
    this.status = STATUS[code] ?? 500;
  }
}
