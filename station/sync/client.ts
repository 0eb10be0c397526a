/**
 * Signed requests to the central office (contracts/sync.ts): every request carries the station
 * id, a timestamp, a fresh nonce and the SHA-256 of its body, signed by the station sync key.
 * Answers are parsed strictly against the contract. Errors say what happened without any
 * secret: no key, no enrolment code, no body.
 */
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import {
  bodyDigest,
  parseSyncBody,
  SYNC_HEADERS,
  SYNC_LIMITS,
  signingStatement,
  syncErrorSchema,
  type SyncErrorCode,
} from '../../contracts/sync.ts';
import type { SyncKey } from './sync-key.ts';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** The central office could not be reached, or did not answer in time. */
export class SyncNetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncNetworkError';
  }
}

/** The central office answered with an error (contract error code, HTTP status). */
export class SyncRemoteError extends Error {
  constructor(
    readonly status: number,
    readonly code: SyncErrorCode | 'HTTP_ERROR',
    message: string,
    readonly expectedSeq?: number,
    readonly expectedAuditSeq?: number,
  ) {
    super(message);
    this.name = 'SyncRemoteError';
  }
  /** Refusals that retrying will not cure: the station must be enrolled again or its clock set. */
  get refused(): boolean {
    return [
      'AUTH_MISSING',
      'UNKNOWN_STATION',
      'REVOKED_STATION',
      'BAD_SIGNATURE',
      'STATION_MISMATCH',
      'PROTOCOL_UNSUPPORTED',
      'ENROL_CODE_INVALID',
      'ENROL_RATE_LIMITED',
      'STALE_REQUEST',
    ].includes(this.code);
  }
}

/** What the station tells an operator about a refusal, and what to do about it. */
export function explainRemoteError(e: SyncRemoteError): string {
  const what: Partial<Record<SyncRemoteError['code'], string>> = {
    UNKNOWN_STATION: 'the central office does not know this station: enrol it (station sync enrol)',
    REVOKED_STATION:
      'the central office has revoked this station: ask its admin for a new enrolment code, then station sync enrol',
    STALE_REQUEST:
      "the central office refused the request as stale: this station's clock is off by more than 5 minutes; set it right",
    REPLAYED_REQUEST: 'the central office refused a replayed request (a nonce seen before)',
    BAD_SIGNATURE:
      "the central office refused the station's signature: the sync key in custody is not the enrolled one; enrol again",
    BAD_DIGEST: 'the request body was altered on the way (digest mismatch)',
    ENROL_CODE_INVALID:
      'the enrolment code is unknown, used, expired or issued for another station: ask the central office admin for a new one',
    ENROL_RATE_LIMITED:
      'the central office refuses enrolment for now after too many wrong enrolment codes: wait, or ask its admin for a new code (which lifts the lock)',
  };
  return `${what[e.code] ?? 'the central office refused the request'} (${e.code}: ${e.message})`;
}

export interface SyncClientOptions {
  baseUrl: string;
  stationId: string;
  key: SyncKey;
  fetch?: FetchLike;
  now?: () => Date;
  timeoutMs?: number;
}

export class SyncClient {
  private readonly fetch: FetchLike;
  private readonly now: () => Date;
  constructor(private readonly o: SyncClientOptions) {
    this.fetch = o.fetch ?? ((url, init) => fetch(url, init));
    this.now = o.now ?? (() => new Date());
  }

  /** POSTs `body` (JSON) to `path`, signed; returns the answer parsed with `schema`. */
  async post<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.output<S>> {
    const text = JSON.stringify(body);
    const timestamp = this.now().toISOString();
    const nonce = randomBytes(18).toString('base64url');
    const digest = bodyDigest(text);
    const signature = this.o.key
      .sign(
        signingStatement({
          method: 'POST',
          path,
          digest,
          timestamp,
          nonce,
          stationId: this.o.stationId,
        }),
      )
      .toString('base64');
    const url = new URL(path, this.o.baseUrl).toString();
    let res: Response;
    let answer: string;
    try {
      res = await this.fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SYNC_HEADERS.station]: this.o.stationId,
          [SYNC_HEADERS.timestamp]: timestamp,
          [SYNC_HEADERS.nonce]: nonce,
          [SYNC_HEADERS.digest]: digest,
          [SYNC_HEADERS.signature]: signature,
        },
        body: text,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
      });
      answer = await readBounded(res);
    } catch (e) {
      throw new SyncNetworkError(
        `cannot reach the central office at ${new URL(this.o.baseUrl).origin}: ${describe(e)}`,
      );
    }
    if (!res.ok) {
      let parsed;
      try {
        parsed = parseSyncBody(answer, syncErrorSchema);
      } catch {
        throw new SyncRemoteError(
          res.status,
          'HTTP_ERROR',
          `HTTP ${res.status} without a sync error body`,
        );
      }
      const e = parsed.error as typeof parsed.error & { expectedAuditSeq?: number };
      throw new SyncRemoteError(res.status, e.code, e.message, e.expectedSeq, e.expectedAuditSeq);
    }
    try {
      return parseSyncBody(answer, schema);
    } catch (e) {
      throw new SyncRemoteError(
        res.status,
        'HTTP_ERROR',
        `the central office's answer to ${path} does not follow the contract: ${(e as Error).message}`,
      );
    }
  }
}

async function readBounded(res: Response): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > SYNC_LIMITS.maxBodyBytes) throw new Error(`answer of ${declared} bytes`);
  const buf = Buffer.from(await res.arrayBuffer());
  if (buf.length > SYNC_LIMITS.maxBodyBytes) throw new Error(`answer of ${buf.length} bytes`);
  return buf.toString('utf8');
}

function describe(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string } };
  if (err.name === 'TimeoutError') return 'no answer in time';
  return err.cause?.code ?? err.message ?? String(e);
}
