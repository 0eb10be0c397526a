/**
 * Retention (docs/sync-station.md): once the central office has acknowledged an application's
 * issuance record and the retention period it set has passed, the station erases what is left
 * of the application's personal data. The application keeps its id, state, document number and
 * times: what accountability needs. The sealed fields and key are normally gone already (the
 * queue erases them when the application is personalized); retention erases them if any remain,
 * and the content digest, a fingerprint of the applicant's data and face that would let someone
 * holding a photo confirm the person was issued here.
 */
import type { Db } from '../../db/open.ts';
import { writeAudit } from '../audit.ts';
import { readSyncState } from './state.ts';
import { verifiedAllowance } from './offline.ts';

export interface RetentionOutcome {
  erased: number[];
}

/** Erases the personal data of every application whose issuance was acknowledged at least
 * the retention period ago. Does nothing until the central office has set a period. */
export function applyRetention(db: Db, now: Date = new Date()): RetentionOutcome {
  const allowance = verifiedAllowance(db);
  // The period comes from the verified allowance; a tampered row never shortens it.
  const hours = allowance && !(allowance instanceof Error) ? allowance.retentionHours : null;
  if (hours === null || readSyncState(db).retentionHours === null) return { erased: [] };
  const cutoff = new Date(now.getTime() - hours * 3_600_000).toISOString();
  const due = db
    .prepare(
      `SELECT a.id AS id, min(d.delivered_at) AS acked
         FROM applications a
         JOIN outbox o ON o.kind = 'issuance'
           AND json_extract(o.payload, '$.applicationId') = a.id
         JOIN outbox_delivery d ON d.outbox_id = o.id
        WHERE a.status = 'personalized'
          AND NOT EXISTS (SELECT 1 FROM sync_retention r WHERE r.application_id = a.id)
        GROUP BY a.id
       HAVING min(d.delivered_at) <= ?
        ORDER BY a.id`,
    )
    .all(cutoff) as { id: number; acked: string }[];
  if (due.length === 0) return { erased: [] };
  db.transaction(() => {
    const at = now.toISOString();
    for (const { id, acked } of due) {
      db.prepare('DELETE FROM application_data WHERE application_id = ?').run(id);
      db.prepare(
        `UPDATE applications SET wrapped_key = NULL, content_digest = ?, updated_at = ? WHERE id = ?`,
      ).run(`erased:${id}`, at, id);
      db.prepare(
        'INSERT INTO sync_retention (application_id, acknowledged_at, erased_at) VALUES (?, ?, ?)',
      ).run(id, acked, at);
    }
    writeAudit(db, {
      actor: 'retention',
      action: 'sync.retention_erased',
      details: { applicationIds: due.map((d) => d.id), retentionHours: hours },
      at: now,
    });
  })();
  return { erased: due.map((d) => d.id) };
}
