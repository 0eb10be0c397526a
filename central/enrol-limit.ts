/**
 * The limit on guessing enrolment codes (docs/sync.md "Enrolment"). A code has no public id
 * part: it is 16 characters of a 32-letter alphabet (80 bits), found by its digest together
 * with the station id it was issued for, so the station id is what a guess names. Every wrong
 * code is recorded in `enrol_failures` (station id, source address, time; never the code), and
 * an attempt is refused with ENROL_RATE_LIMITED while, within the last `enrolLockoutMinutes`,
 * that station id has `enrolMaxFailuresPerStation` failures or that source address
 * `enrolMaxFailuresPerSource` — even with the right code, or the lock would not stop a guesser.
 * The count is in the database, so it holds across restarts and across several offices on one
 * PostgreSQL; the check and the recording of a failure run under transaction-scoped advisory
 * locks on the station id and the source, so concurrent guesses cannot slip past the count.
 * Issuing a new code for a station clears its failures (the admin's way to lift a lock).
 */
import type pg from 'pg';
import { CentralError } from './errors.ts';
import type { CentralSettings } from './office.ts';

/** Namespaces of the advisory locks (first key of pg_advisory_xact_lock(int, int)). */
const LOCK_STATION = 0x454e5201;
const LOCK_SOURCE = 0x454e5202;
/** Failures older than the longest window a setting allows are forgotten. */
export const ENROL_FAILURE_MAX_MINUTES = 24 * 60;

type Limits = Pick<
  CentralSettings,
  'enrolMaxFailuresPerStation' | 'enrolMaxFailuresPerSource' | 'enrolLockoutMinutes'
>;

/** Serializes enrolment attempts for this station id and this source until the transaction ends. */
export async function lockEnrolAttempts(
  c: pg.PoolClient,
  stationId: string,
  source: string,
): Promise<void> {
  // Always station first, then source: two attempts never wait on each other in a cycle.
  await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_STATION, stationId]);
  await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_SOURCE, source]);
}

/** When the count of failures `times` (newest first) drops below `max` again, or null if it is
 * below already. */
function lockedUntil(times: Date[], max: number, windowMs: number): Date | null {
  if (times.length < max) return null;
  return new Date(times[max - 1]!.getTime() + windowMs);
}

/** Throws ENROL_RATE_LIMITED if the station id or the source is locked out at `now`. */
export async function checkEnrolLimit(
  c: pg.PoolClient,
  stationId: string,
  source: string,
  now: Date,
  limits: Limits,
): Promise<void> {
  const windowMs = limits.enrolLockoutMinutes * 60_000;
  const since = new Date(now.getTime() - windowMs);
  const recent = async (column: 'station_id' | 'source', value: string, max: number) =>
    (
      await c.query<{ failed_at: Date }>(
        `SELECT failed_at FROM enrol_failures WHERE ${column} = $1 AND failed_at > $2
          ORDER BY failed_at DESC LIMIT $3`,
        [value, since, max],
      )
    ).rows.map((r) => r.failed_at);
  const byStation = await recent('station_id', stationId, limits.enrolMaxFailuresPerStation);
  const bySource = await recent('source', source, limits.enrolMaxFailuresPerSource);
  const station = lockedUntil(byStation, limits.enrolMaxFailuresPerStation, windowMs);
  const from = lockedUntil(bySource, limits.enrolMaxFailuresPerSource, windowMs);
  const until = [station, from].filter((d): d is Date => d !== null && d > now);
  if (until.length === 0) return;
  const latest = new Date(Math.max(...until.map((d) => d.getTime())));
  const retryAfterSeconds = Math.max(1, Math.ceil((latest.getTime() - now.getTime()) / 1000));
  const minutes = Math.ceil(retryAfterSeconds / 60);
  const why =
    station && station > now
      ? `${limits.enrolMaxFailuresPerStation} wrong enrolment codes were tried for station ${stationId} in the last ${limits.enrolLockoutMinutes} minutes`
      : `${limits.enrolMaxFailuresPerSource} wrong enrolment codes came from this address in the last ${limits.enrolLockoutMinutes} minutes`;
  throw new CentralError(
    'ENROL_RATE_LIMITED',
    `enrolment is refused for now: ${why}; try again in ${minutes} minute${minutes === 1 ? '' : 's'}, or ask the central office admin for a new code`,
    { retryAfterSeconds },
  );
}

/** Records a wrong code (never the code itself); returns the station id's failures in the window. */
export async function recordEnrolFailure(
  c: pg.PoolClient,
  stationId: string,
  source: string,
  now: Date,
  limits: Limits,
): Promise<number> {
  await c.query('INSERT INTO enrol_failures (station_id, source, failed_at) VALUES ($1, $2, $3)', [
    stationId,
    source,
    now,
  ]);
  const r = await c.query<{ n: string }>(
    'SELECT count(*) AS n FROM enrol_failures WHERE station_id = $1 AND failed_at > $2',
    [stationId, new Date(now.getTime() - limits.enrolLockoutMinutes * 60_000)],
  );
  return Number(r.rows[0]?.n ?? 0);
}

/** Forgets failures older than any window can reach. */
export async function pruneEnrolFailures(pool: pg.Pool, now: Date): Promise<void> {
  await pool.query('DELETE FROM enrol_failures WHERE failed_at < $1', [
    new Date(now.getTime() - ENROL_FAILURE_MAX_MINUTES * 60_000),
  ]);
}
