/**
 * What the central office does, as functions over its database: enrolment codes and stations,
 * the pull feed and the signed offline allowance, settings, and the queries (counts per
 * station and day, silent stations, records waiting, audit flags, stock visibility). The HTTP
 * routes and the `central` command both call these.
 */
import { createHash, randomInt } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import {
  SYNC_PROTOCOL,
  allowanceStatement,
  offlineLimitsShape,
  pullItemSchema,
  signWith,
  stationIdSchema,
  type OfflineAllowance,
  type PullItem,
  type PullResponse,
  type SignedAllowance,
} from '../contracts/sync.ts';
import { inTransaction } from './db.ts';
import { ENROL_FAILURE_MAX_MINUTES } from './enrol-limit.ts';
import { CentralError } from './errors.ts';
import type { CentralKey } from './secrets.ts';

/** Settings the central office sets (stored in `settings`, these values until changed). */
export const settingsSchema = z.strictObject({
  ...offlineLimitsShape,
  /** Flag a station whose production stock lasts fewer days than this at its rate. */
  stockThresholdDays: z.number().min(0).max(365),
  /** The issuance rate is averaged over this many recent days. */
  rateWindowDays: z.number().int().min(1).max(90),
  enrolCodeHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 30),
  /** Wrong enrolment codes for one station id, within the lockout window, before its lock. */
  enrolMaxFailuresPerStation: z.number().int().min(1).max(1000),
  /** Wrong enrolment codes from one source address, within the window, before its lock. */
  enrolMaxFailuresPerSource: z.number().int().min(1).max(10_000),
  /** The window the failures are counted over (a lock lifts as they age out of it). */
  enrolLockoutMinutes: z.number().int().min(1).max(ENROL_FAILURE_MAX_MINUTES),
});
export type CentralSettings = z.infer<typeof settingsSchema>;
export const DEFAULT_SETTINGS: CentralSettings = {
  maxOfflineHours: 72,
  maxOfflineIssuances: 500,
  maxLostStolenAgeHours: 72,
  retentionHours: 24 * 30,
  stockThresholdDays: 21,
  rateWindowDays: 14,
  enrolCodeHours: 24,
  enrolMaxFailuresPerStation: 5,
  enrolMaxFailuresPerSource: 20,
  enrolLockoutMinutes: 15,
};

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
export const codeDigest = (code: string): string =>
  createHash('sha256').update(code, 'utf8').digest('hex');

/** A record kind the central office counts, and the column its count goes to. */
const COUNTED = { issuance: 'issued', spoilage: 'spoiled', 'intake.refusal': 'refused' } as const;

export interface StationStock {
  stationId: string;
  onHand: number;
  /** Average production issuances a day over the rate window. */
  ratePerDay: number;
  /** Days of stock left at that rate; null when nothing was issued (no end in sight). */
  daysLeft: number | null;
  flagged: boolean;
  asOf: string | null;
  byState: { state: string; stockClass: string; count: number }[];
}

export class CentralOffice {
  constructor(
    readonly pool: pg.Pool,
    readonly key: CentralKey,
  ) {}

  // --- settings --------------------------------------------------------------------------

  async settings(): Promise<CentralSettings> {
    const r = await this.pool.query<{ key: string; value: unknown }>(
      'SELECT key, value FROM settings',
    );
    const s: Record<string, unknown> = { ...DEFAULT_SETTINGS };
    for (const row of r.rows) if (row.key in DEFAULT_SETTINGS) s[row.key] = row.value;
    return settingsSchema.parse(s);
  }

  async updateSettings(change: Partial<CentralSettings>): Promise<CentralSettings> {
    const next = settingsSchema.safeParse({ ...(await this.settings()), ...change });
    if (!next.success)
      throw new CentralError(
        'INVALID_BODY',
        `setting ${next.error.issues[0]?.path.join('.')}: ${next.error.issues[0]?.message}`,
      );
    for (const k of Object.keys(change))
      await this.pool.query(
        `INSERT INTO settings (key, value) VALUES ($1, $2::jsonb)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [k, JSON.stringify(next.data[k as keyof CentralSettings])],
      );
    return next.data;
  }

  // --- stations ----------------------------------------------------------------------------

  /** A one-time enrolment code for `stationId`. Only its digest is kept; the code is shown
   * once, to the admin. */
  async issueEnrolCode(
    stationId: string,
    now = new Date(),
  ): Promise<{ stationId: string; code: string; expiresAt: string }> {
    if (!stationIdSchema.safeParse(stationId).success)
      throw new CentralError(
        'INVALID_BODY',
        `station id ${JSON.stringify(stationId)} is not valid: use 2-40 upper-case letters, digits and '-'`,
      );
    const groups: string[] = [];
    for (let g = 0; g < 4; g++) {
      let s = '';
      for (let i = 0; i < 4; i++) s += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
      groups.push(s);
    }
    const code = groups.join('-');
    const expiresAt = new Date(now.getTime() + (await this.settings()).enrolCodeHours * 3600_000);
    await inTransaction(this.pool, async (c) => {
      await c.query(
        'INSERT INTO enrol_codes (code_sha256, station_id, created_at, expires_at) VALUES ($1, $2, $3, $4)',
        [codeDigest(code), stationId, now, expiresAt],
      );
      // A new code lifts the station id's lock on guessing (central/enrol-limit.ts).
      await c.query('DELETE FROM enrol_failures WHERE station_id = $1', [stationId]);
    });
    return { stationId, code, expiresAt: expiresAt.toISOString() };
  }

  async revokeStation(stationId: string, now = new Date()): Promise<void> {
    const r = await this.pool.query(
      'UPDATE stations SET revoked_at = coalesce(revoked_at, $2) WHERE station_id = $1',
      [stationId, now],
    );
    if (r.rowCount === 0)
      throw new CentralError('NOT_FOUND', `station ${stationId} is not enrolled`);
  }

  async stations(): Promise<
    {
      stationId: string;
      enrolledAt: string;
      revokedAt: string | null;
      ackedSeq: number;
      auditAckedSeq: number;
      lastSeenAt: string | null;
      recordsWaiting: number | null;
      oldestWaitingAt: string | null;
    }[]
  > {
    const r = await this.pool.query('SELECT * FROM stations ORDER BY station_id');
    return r.rows.map((s) => ({
      stationId: s.station_id,
      enrolledAt: s.enrolled_at.toISOString(),
      revokedAt: s.revoked_at?.toISOString() ?? null,
      ackedSeq: Number(s.acked_seq),
      auditAckedSeq: Number(s.audit_acked_seq),
      lastSeenAt: s.last_seen_at?.toISOString() ?? null,
      recordsWaiting: s.outbox_waiting,
      oldestWaitingAt: s.outbox_oldest_at?.toISOString() ?? null,
    }));
  }

  // --- the pull feed -----------------------------------------------------------------------

  /** Queues an item for one station (or, with null, for every station). `item` is a pull item
   * without its seq; it is checked against the contract before it is stored. */
  async addPullItem(stationId: string | null, item: unknown, now = new Date()): Promise<number> {
    const checked = pullItemSchema.safeParse({ ...(item as object), seq: 1 });
    if (!checked.success)
      throw new CentralError(
        'INVALID_BODY',
        `${checked.error.issues[0]?.path.join('.') || 'item'}: ${checked.error.issues[0]?.message}`,
      );
    const { seq: _seq, ...body } = checked.data;
    const r = await this.pool.query<{ seq: string }>(
      'INSERT INTO pull_items (station_id, kind, item, created_at) VALUES ($1, $2, $3::jsonb, $4) RETURNING seq',
      [stationId, body.kind, JSON.stringify(body), now],
    );
    return Number(r.rows[0]!.seq);
  }

  /** An approved application for a station, with its images. */
  submitApplication(
    stationId: string,
    a: {
      applicationId: string;
      application: Record<string, unknown>;
      images: { name: string; mediaType: 'image/jpeg' | 'image/jp2'; base64: string }[];
    },
  ): Promise<number> {
    return this.addPullItem(stationId, { kind: 'application', ...a });
  }

  reportLostStolen(
    serial: string,
    status: 'lost' | 'stolen' | 'cleared',
    now = new Date(),
  ): Promise<number> {
    return this.addPullItem(
      null,
      { kind: 'lost_stolen', serial, status, reportedAt: now.toISOString() },
      now,
    );
  }

  async signedAllowance(stationId: string, now = new Date()): Promise<SignedAllowance> {
    const s = await this.settings();
    const allowance: OfflineAllowance = {
      format: 'perso-sync/offline-allowance@1',
      stationId,
      issuedAt: now.toISOString(),
      maxOfflineHours: s.maxOfflineHours,
      maxOfflineIssuances: s.maxOfflineIssuances,
      maxLostStolenAgeHours: s.maxLostStolenAgeHours,
      retentionHours: s.retentionHours,
    };
    return {
      allowance,
      signature: signWith(this.key.privateKey, allowanceStatement(allowance)),
      keyId: this.key.keyId,
    };
  }

  async pull(stationId: string, cursor: number, limit: number, now: Date): Promise<PullResponse> {
    const r = await this.pool.query<{ seq: string; item: Omit<PullItem, 'seq'> }>(
      `SELECT seq, item FROM pull_items
        WHERE seq > $2 AND (station_id = $1 OR station_id IS NULL)
        ORDER BY seq LIMIT $3`,
      [stationId, cursor, limit + 1],
    );
    const more = r.rows.length > limit;
    const rows = r.rows.slice(0, limit);
    const items = rows.map((row) => ({ ...row.item, seq: Number(row.seq) }) as PullItem);
    const next = rows.length ? Number(rows[rows.length - 1]!.seq) : cursor;
    await this.pool.query(
      'UPDATE stations SET pull_cursor = greatest(pull_cursor, $2), last_seen_at = $3 WHERE station_id = $1',
      [stationId, cursor, now],
    );
    return {
      protocol: SYNC_PROTOCOL,
      items,
      cursor: next,
      more,
      allowance: await this.signedAllowance(stationId, now),
      lostStolenAsOf: now.toISOString(),
      serverTime: now.toISOString(),
    };
  }

  // --- queries -----------------------------------------------------------------------------

  /** Issued, spoiled and refused per station and UTC day, from the records received. */
  async dailyCounts(
    opts: { from?: string; to?: string } = {},
  ): Promise<
    { stationId: string; day: string; issued: number; spoiled: number; refused: number }[]
  > {
    const r = await this.pool.query<{ station_id: string; day: string; kind: string; n: string }>(
      `SELECT station_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, kind,
              count(*) AS n
         FROM records
        WHERE kind = ANY($1::text[])
          AND ($2::text IS NULL OR to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') >= $2)
          AND ($3::text IS NULL OR to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') <= $3)
        GROUP BY 1, 2, 3 ORDER BY 1, 2`,
      [Object.keys(COUNTED), opts.from ?? null, opts.to ?? null],
    );
    const out = new Map<
      string,
      { stationId: string; day: string; issued: number; spoiled: number; refused: number }
    >();
    for (const row of r.rows) {
      const k = `${row.station_id}\n${row.day}`;
      const e = out.get(k) ?? {
        stationId: row.station_id,
        day: row.day,
        issued: 0,
        spoiled: 0,
        refused: 0,
      };
      e[COUNTED[row.kind as keyof typeof COUNTED]] += Number(row.n);
      out.set(k, e);
    }
    return [...out.values()];
  }

  /** Stations (not revoked) not heard from for `hours` (never heard from counts). */
  async silentStations(
    hours: number,
    now = new Date(),
  ): Promise<{ stationId: string; lastSeenAt: string | null }[]> {
    const r = await this.pool.query<{ station_id: string; last_seen_at: Date | null }>(
      `SELECT station_id, last_seen_at FROM stations
        WHERE revoked_at IS NULL AND (last_seen_at IS NULL OR last_seen_at < $1)
        ORDER BY last_seen_at NULLS FIRST, station_id`,
      [new Date(now.getTime() - hours * 3600_000)],
    );
    return r.rows.map((s) => ({
      stationId: s.station_id,
      lastSeenAt: s.last_seen_at?.toISOString() ?? null,
    }));
  }

  /** Records waiting at stations (as their last push said), and pull items not yet pulled. */
  async recordsWaiting(): Promise<
    {
      stationId: string;
      waitingAtStation: number | null;
      oldestWaitingAt: string | null;
      pullItemsWaiting: number;
    }[]
  > {
    const r = await this.pool.query<{
      station_id: string;
      outbox_waiting: number | null;
      outbox_oldest_at: Date | null;
      pending: string;
    }>(
      `SELECT s.station_id, s.outbox_waiting, s.outbox_oldest_at,
              (SELECT count(*) FROM pull_items p
                WHERE p.seq > s.pull_cursor AND (p.station_id = s.station_id OR p.station_id IS NULL)) AS pending
         FROM stations s WHERE s.revoked_at IS NULL ORDER BY s.station_id`,
    );
    return r.rows.map((s) => ({
      stationId: s.station_id,
      waitingAtStation: s.outbox_waiting,
      oldestWaitingAt: s.outbox_oldest_at?.toISOString() ?? null,
      pullItemsWaiting: Number(s.pending),
    }));
  }

  async auditFlags(
    stationId?: string,
  ): Promise<
    { stationId: string; seq: number | null; toSeq: number | null; kind: string; message: string }[]
  > {
    const r = await this.pool.query(
      `SELECT * FROM audit_flags WHERE $1::text IS NULL OR station_id = $1 ORDER BY id`,
      [stationId ?? null],
    );
    return r.rows.map((f) => ({
      stationId: f.station_id,
      seq: f.seq === null ? null : Number(f.seq),
      toSeq: f.to_seq === null ? null : Number(f.to_seq),
      kind: f.kind,
      message: f.message,
    }));
  }

  /**
   * Stock visibility: production stock on hand per station (from its last push), the
   * issuance rate over the rate window (or since the station's first record, if that is
   * shorter), the days left at that rate, and a flag for every station below the threshold;
   * and the same agency-wide.
   */
  async stockReport(now = new Date()): Promise<{
    stations: StationStock[];
    agency: { onHand: number; ratePerDay: number; daysLeft: number | null; flagged: boolean };
    thresholdDays: number;
    rateWindowDays: number;
  }> {
    const s = await this.settings();
    const since = new Date(now.getTime() - s.rateWindowDays * 86400_000);
    const stations = await this.pool.query<{ station_id: string }>(
      'SELECT station_id FROM stations WHERE revoked_at IS NULL ORDER BY station_id',
    );
    const stock = await this.pool.query<{
      station_id: string;
      state: string;
      stock_class: string;
      count: number;
      as_of: Date;
    }>('SELECT * FROM stock_on_hand ORDER BY station_id, state, stock_class');
    const issued = await this.pool.query<{ station_id: string; n: string; first: Date }>(
      `SELECT r.station_id, count(*) FILTER (WHERE r.created_at > $1 AND r.created_at <= $2) AS n,
              (SELECT min(created_at) FROM records f WHERE f.station_id = r.station_id) AS first
         FROM records r WHERE r.kind = 'issuance' GROUP BY r.station_id`,
      [since, now],
    );
    const rateOf = new Map<string, number>();
    for (const row of issued.rows) {
      const days = Math.max(
        1,
        Math.min(s.rateWindowDays, (now.getTime() - row.first.getTime()) / 86400_000),
      );
      rateOf.set(row.station_id, Number(row.n) / days);
    }
    const out: StationStock[] = stations.rows.map(({ station_id }) => {
      const rows = stock.rows.filter((r) => r.station_id === station_id && r.count > 0);
      const onHand = rows
        .filter((r) => r.stock_class === 'production')
        .reduce((a, r) => a + r.count, 0);
      const ratePerDay = rateOf.get(station_id) ?? 0;
      const daysLeft = ratePerDay > 0 ? onHand / ratePerDay : null;
      const asOf = stock.rows.find((r) => r.station_id === station_id)?.as_of;
      return {
        stationId: station_id,
        onHand,
        ratePerDay,
        daysLeft,
        flagged: daysLeft !== null && daysLeft < s.stockThresholdDays,
        asOf: asOf?.toISOString() ?? null,
        byState: rows.map((r) => ({ state: r.state, stockClass: r.stock_class, count: r.count })),
      };
    });
    const onHand = out.reduce((a, x) => a + x.onHand, 0);
    const ratePerDay = out.reduce((a, x) => a + x.ratePerDay, 0);
    const daysLeft = ratePerDay > 0 ? onHand / ratePerDay : null;
    return {
      stations: out,
      agency: {
        onHand,
        ratePerDay,
        daysLeft,
        flagged: daysLeft !== null && daysLeft < s.stockThresholdDays,
      },
      thresholdDays: s.stockThresholdDays,
      rateWindowDays: s.rateWindowDays,
    };
  }
}
