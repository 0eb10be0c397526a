/** The sync tables (db migration 6): enrolment, acknowledged sequences, cursor, allowance. */
import type { Db } from '../../db/open.ts';

export interface SyncConfig {
  centralUrl: string;
  centralKeyPem: string;
  stationKeyId: string;
  enrolledAt: string;
  enrolledBy: number;
  appliedBy: number;
}

export interface SyncStateRow {
  ackedOutboxSeq: number;
  ackedAuditSeq: number;
  pullCursor: number;
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  lastError: string | null;
  allowance: string | null;
  lostStolenAsOf: string | null;
  retentionHours: number | null;
}

export function readSyncConfig(db: Db): SyncConfig | undefined {
  const r = db.prepare('SELECT * FROM sync_config WHERE id = 1').get() as
    | {
        central_url: string;
        central_key_pem: string;
        station_key_id: string;
        enrolled_at: string;
        enrolled_by: number;
        applied_by: number;
      }
    | undefined;
  return (
    r && {
      centralUrl: r.central_url,
      centralKeyPem: r.central_key_pem,
      stationKeyId: r.station_key_id,
      enrolledAt: r.enrolled_at,
      enrolledBy: r.enrolled_by,
      appliedBy: r.applied_by,
    }
  );
}

export function writeSyncConfig(db: Db, c: SyncConfig): void {
  db.prepare(
    `INSERT INTO sync_config (id, central_url, central_key_pem, station_key_id, enrolled_at, enrolled_by, applied_by)
     VALUES (1, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET central_url = excluded.central_url,
       central_key_pem = excluded.central_key_pem, station_key_id = excluded.station_key_id,
       enrolled_at = excluded.enrolled_at, enrolled_by = excluded.enrolled_by,
       applied_by = excluded.applied_by`,
  ).run(c.centralUrl, c.centralKeyPem, c.stationKeyId, c.enrolledAt, c.enrolledBy, c.appliedBy);
  db.prepare('INSERT INTO sync_state (id) VALUES (1) ON CONFLICT DO NOTHING').run();
}

export function readSyncState(db: Db): SyncStateRow {
  const r = db.prepare('SELECT * FROM sync_state WHERE id = 1').get() as
    | {
        acked_outbox_seq: number;
        acked_audit_seq: number;
        pull_cursor: number;
        last_attempt_at: string | null;
        last_success_at: string | null;
        last_error: string | null;
        allowance: string | null;
        lost_stolen_as_of: string | null;
        retention_hours: number | null;
      }
    | undefined;
  return {
    ackedOutboxSeq: r?.acked_outbox_seq ?? 0,
    ackedAuditSeq: r?.acked_audit_seq ?? 0,
    pullCursor: r?.pull_cursor ?? 0,
    lastAttemptAt: r?.last_attempt_at ?? null,
    lastSuccessAt: r?.last_success_at ?? null,
    lastError: r?.last_error ?? null,
    allowance: r?.allowance ?? null,
    lostStolenAsOf: r?.lost_stolen_as_of ?? null,
    retentionHours: r?.retention_hours ?? null,
  };
}

const COLUMNS: Record<keyof SyncStateRow, string> = {
  ackedOutboxSeq: 'acked_outbox_seq',
  ackedAuditSeq: 'acked_audit_seq',
  pullCursor: 'pull_cursor',
  lastAttemptAt: 'last_attempt_at',
  lastSuccessAt: 'last_success_at',
  lastError: 'last_error',
  allowance: 'allowance',
  lostStolenAsOf: 'lost_stolen_as_of',
  retentionHours: 'retention_hours',
};

/** Updates some columns of the one sync_state row (created if missing). */
export function updateSyncState(db: Db, patch: Partial<SyncStateRow>): void {
  const keys = Object.keys(patch) as (keyof SyncStateRow)[];
  if (keys.length === 0) return;
  db.transaction(() => {
    db.prepare('INSERT INTO sync_state (id) VALUES (1) ON CONFLICT DO NOTHING').run();
    db.prepare(
      `UPDATE sync_state SET ${keys.map((k) => `${COLUMNS[k]} = ?`).join(', ')} WHERE id = 1`,
    ).run(...keys.map((k) => patch[k] ?? null));
  })();
}

/** Outbox records the central office has not acknowledged: how many, and the oldest's time. */
export function waitingRecords(db: Db): { count: number; oldest: string | null } {
  const acked = readSyncState(db).ackedOutboxSeq;
  const r = db
    .prepare('SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE id > ?')
    .get(acked) as { n: number; oldest: string | null };
  return { count: r.n, oldest: r.oldest };
}
