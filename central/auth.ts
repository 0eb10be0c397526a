/**
 * Signed-request verification (docs/sync.md "Signed requests"): the headers, the station, its
 * revocation, the timestamp window, the body digest, the signature, and the nonce, in that
 * order, each refusal with its own code. Nonces are remembered longer than the window, so a
 * request replayed inside the window is refused and one replayed after it is stale.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type pg from 'pg';
import {
  SYNC_HEADERS,
  SYNC_LIMITS,
  bodyDigest,
  nonceSchema,
  signingStatement,
  stationIdSchema,
  verifyWith,
} from '../contracts/sync.ts';
import { CentralError } from './errors.ts';

export interface SignedRequest {
  method: string;
  /** Path and query string, as sent. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface StationRow {
  station_id: string;
  public_key: string;
  audit_public_key: string;
  revoked_at: Date | null;
  acked_seq: string;
  audit_acked_seq: string;
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function header(r: SignedRequest, name: string): string {
  const v = r.headers[name];
  if (typeof v !== 'string' || v === '')
    throw new CentralError('AUTH_MISSING', `the signed-request header ${name} is missing`);
  return v;
}

/** The signed headers, checked for form only. */
export function readAuthHeaders(r: SignedRequest) {
  const stationId = header(r, SYNC_HEADERS.station);
  const timestamp = header(r, SYNC_HEADERS.timestamp);
  const nonce = header(r, SYNC_HEADERS.nonce);
  const digest = header(r, SYNC_HEADERS.digest);
  const signature = header(r, SYNC_HEADERS.signature);
  if (!stationIdSchema.safeParse(stationId).success)
    throw new CentralError('AUTH_MISSING', `${SYNC_HEADERS.station} is not a station id`);
  if (!ISO_MS.test(timestamp) || Number.isNaN(Date.parse(timestamp)))
    throw new CentralError(
      'AUTH_MISSING',
      `${SYNC_HEADERS.timestamp} is not an ISO 8601 UTC time with milliseconds`,
    );
  if (!nonceSchema.safeParse(nonce).success)
    throw new CentralError('AUTH_MISSING', `${SYNC_HEADERS.nonce} must be 16-64 of [A-Za-z0-9_-]`);
  if (!/^[0-9a-f]{64}$/.test(digest))
    throw new CentralError('AUTH_MISSING', `${SYNC_HEADERS.digest} must be 64 hex digits`);
  if (!/^[A-Za-z0-9+/]{1,200}={0,2}$/.test(signature))
    throw new CentralError('AUTH_MISSING', `${SYNC_HEADERS.signature} must be base64`);
  return { stationId, timestamp, nonce, digest, signature };
}

/** Checks time, digest and signature against `publicKey`, then spends the nonce. */
export async function checkSignature(
  pool: pg.Pool | pg.PoolClient,
  r: SignedRequest,
  h: ReturnType<typeof readAuthHeaders>,
  publicKey: KeyObject | string,
  now: Date,
): Promise<void> {
  if (Math.abs(Date.parse(h.timestamp) - now.getTime()) > SYNC_LIMITS.clockSkewMs)
    throw new CentralError(
      'STALE_REQUEST',
      `the request time ${h.timestamp} is more than ${SYNC_LIMITS.clockSkewMs / 60000} minutes from the central office's clock (${now.toISOString()})`,
    );
  if (bodyDigest(r.body) !== h.digest)
    throw new CentralError('BAD_DIGEST', 'the body does not match its SHA-256 header');
  const statement = signingStatement({
    method: r.method,
    path: r.path,
    digest: h.digest,
    timestamp: h.timestamp,
    nonce: h.nonce,
    stationId: h.stationId,
  });
  if (!verifyWith(publicKey, statement, h.signature))
    throw new CentralError(
      'BAD_SIGNATURE',
      `the request signature is not valid for station ${h.stationId}'s key`,
    );
  const spent = await pool.query(
    `INSERT INTO nonces (station_id, nonce, seen_at) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING`,
    [h.stationId, h.nonce, now],
  );
  if (spent.rowCount === 0)
    throw new CentralError(
      'REPLAYED_REQUEST',
      `this request was already received (nonce seen before from station ${h.stationId})`,
    );
}

/** Verifies a request of an enrolled station; returns the station. */
export async function verifyStationRequest(
  pool: pg.Pool,
  r: SignedRequest,
  now: Date,
): Promise<StationRow & { publicKeyObject: KeyObject }> {
  const h = readAuthHeaders(r);
  const found = await pool.query<StationRow>('SELECT * FROM stations WHERE station_id = $1', [
    h.stationId,
  ]);
  const station = found.rows[0];
  if (!station) throw new CentralError('UNKNOWN_STATION', `station ${h.stationId} is not enrolled`);
  if (station.revoked_at)
    throw new CentralError(
      'REVOKED_STATION',
      `station ${h.stationId} was revoked on ${station.revoked_at.toISOString()}`,
    );
  const publicKeyObject = createPublicKey(station.public_key);
  await checkSignature(pool, r, h, publicKeyObject, now);
  return { ...station, publicKeyObject };
}

/** Forgets nonces old enough that their requests are stale anyway. */
export async function pruneNonces(pool: pg.Pool, now: Date): Promise<void> {
  await pool.query('DELETE FROM nonces WHERE seen_at < $1', [
    new Date(now.getTime() - 3 * SYNC_LIMITS.clockSkewMs),
  ]);
}
