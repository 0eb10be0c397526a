/**
 * The offline policy (docs/sync-station.md): the central office signs, for each station, how
 * long it may go without a successful exchange, how many issuances it may make meanwhile, and
 * how old its lost/stolen list may get. The allowance is verified with the central office key
 * stored at enrolment every time it is used, so an allowance edited in the database is refused.
 */
import { createPublicKey } from 'node:crypto';
import {
  parseSyncBody,
  signedAllowanceSchema,
  verifyAllowance,
  type OfflineAllowance,
} from '../../contracts/sync.ts';
import { preparedOnce, type Db } from '../../db/open.ts';
import { getStationIdentity } from '../identity.ts';
import { readSyncConfig, readSyncState } from './state.ts';

export type OfflineLimit =
  | 'no_allowance'
  | 'allowance_invalid'
  | 'max_offline_hours'
  | 'max_offline_issuances'
  | 'lost_stolen_list_stale';

export type IssuanceAllowed =
  | {
      ok: true;
      /** False for a station with no central office (not enrolled): no limit applies. */
      enrolled: boolean;
      /** What is left of the allowance (enrolled stations). */
      remaining?: { hours: number; issuances: number; lostStolenHours: number };
    }
  | { ok: false; limit: OfflineLimit; message: string; action: string };

const HOUR = 3_600_000;

/** The stored allowance, verified with the central office key; undefined if there is none. */
export function verifiedAllowance(db: Db): OfflineAllowance | undefined | Error {
  const config = readSyncConfig(db);
  const s = readSyncState(db);
  if (!config || !s.allowance) return undefined;
  try {
    const signed = parseSyncBody(s.allowance, signedAllowanceSchema);
    const key = createPublicKey(config.centralKeyPem);
    if (!verifyAllowance(signed, key, getStationIdentity(db).stationId))
      return new Error('its signature is not the central office key');
    return signed.allowance;
  } catch (e) {
    return e as Error;
  }
}

/** Issuance records the central office has not acknowledged yet: made while offline. */
export function unacknowledgedIssuances(db: Db): number {
  const acked = readSyncState(db).ackedOutboxSeq;
  return db
    .prepare("SELECT count(*) FROM outbox WHERE kind = 'issuance' AND id > ?")
    .pluck()
    .get(acked) as number;
}

/**
 * Whether the station may issue one more booklet now. The personalization job calls it before
 * each issuance; a refusal names the limit and what to do. A station that was never enrolled
 * with a central office has no allowance to keep and is allowed.
 */
export function checkIssuanceAllowed(db: Db, now: Date = new Date()): IssuanceAllowed {
  if (!readSyncConfig(db)) return { ok: true, enrolled: false };
  const reconnect =
    'restore the connection to the central office (station sync status shows the last error); issuance resumes by itself after the next successful exchange';
  const a = verifiedAllowance(db);
  if (a === undefined)
    return {
      ok: false,
      limit: 'no_allowance',
      message:
        'issuance is stopped: the central office has not sent this station an offline allowance yet',
      action: reconnect,
    };
  if (a instanceof Error)
    return {
      ok: false,
      limit: 'allowance_invalid',
      message: `issuance is stopped: the stored offline allowance is not valid (${a.message})`,
      action: reconnect,
    };
  const s = readSyncState(db);
  const since = s.lastSuccessAt ? Date.parse(s.lastSuccessAt) : Date.parse(a.issuedAt);
  const offlineHours = (now.getTime() - since) / HOUR;
  if (offlineHours > a.maxOfflineHours)
    return {
      ok: false,
      limit: 'max_offline_hours',
      message: `issuance is stopped: the station has not reached the central office for ${offlineHours.toFixed(1)} hours, more than the ${a.maxOfflineHours} hours its offline allowance permits`,
      action: reconnect,
    };
  const issued = unacknowledgedIssuances(db);
  if (issued >= a.maxOfflineIssuances)
    return {
      ok: false,
      limit: 'max_offline_issuances',
      message: `issuance is stopped: ${issued} issuances wait for the central office, and the offline allowance permits ${a.maxOfflineIssuances}`,
      action: reconnect,
    };
  const listAt = s.lostStolenAsOf ? Date.parse(s.lostStolenAsOf) : Number.NEGATIVE_INFINITY;
  const listHours = (now.getTime() - listAt) / HOUR;
  if (listHours > a.maxLostStolenAgeHours)
    return {
      ok: false,
      limit: 'lost_stolen_list_stale',
      message: s.lostStolenAsOf
        ? `issuance is stopped: the lost/stolen list is ${listHours.toFixed(1)} hours old, more than the ${a.maxLostStolenAgeHours} hours the offline allowance permits`
        : 'issuance is stopped: the station has no lost/stolen list from the central office yet',
      action: reconnect,
    };
  return {
    ok: true,
    enrolled: true,
    remaining: {
      hours: Math.max(0, a.maxOfflineHours - offlineHours),
      issuances: a.maxOfflineIssuances - issued,
      lostStolenHours: Math.max(0, a.maxLostStolenAgeHours - listHours),
    },
  };
}

/** Whether the central office reported this booklet serial lost or stolen. Intake and
 * personalization may ask before using a booklet; intake's own refusals do not depend on it. */
export function isReportedLostOrStolen(
  db: Db,
  serial: string,
): { status: 'lost' | 'stolen'; reportedAt: string } | undefined {
  const r = preparedOnce(
    db,
    'SELECT status, reported_at FROM sync_lost_stolen WHERE serial = ?',
  ).get(serial) as { status: 'lost' | 'stolen'; reported_at: string } | undefined;
  return r && { status: r.status, reportedAt: r.reported_at };
}
