/**
 * Push: the outbox (its id is the record's sequence number: the outbox is append-only, so ids
 * are 1, 2, 3... for good) and the audit log, in batches, with the stock on hand. The central
 * office stores each seq once and acknowledges up to a seq; what it acknowledged is kept in
 * sync_state and each acknowledged outbox record gets its outbox_delivery row. A batch lost on
 * the way, or answered after the station crashed, is sent again from the last acknowledgement:
 * the central office answers those records as duplicates.
 */
import {
  pushResponseSchema,
  SYNC_LIMITS,
  SYNC_PROTOCOL,
  type PushAuditEntry,
  type PushRecord,
  type PushRequest,
  type PushResponse,
  type StockOnHand,
} from '../../contracts/sync.ts';
import type { Db } from '../../db/open.ts';
import { getStationIdentity } from '../identity.ts';
import type { SyncClient } from './client.ts';
import { SyncRemoteError } from './client.ts';
import { readSyncState, updateSyncState, waitingRecords } from './state.ts';

export const PUSH_PATH = '/v1/push';

interface OutboxRow {
  id: number;
  kind: string;
  payload: string;
  idempotency_key: string;
  created_at: string;
  audit_seq: number | null;
  audit_hash: string | null;
  audit_sig: string | null;
}

interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  station_id: string;
  action: string;
  details: string;
  prev_hash: string;
  hash: string;
  sig: string | null;
}

/** The stock this station holds, by state and class (counts above zero). */
export function stockSnapshot(db: Db, stationId: string, at: Date): StockOnHand {
  const rows = db
    .prepare(
      `SELECT state, stock_class, count(*) AS n FROM booklets WHERE holder_station = ?
       GROUP BY state, stock_class ORDER BY state, stock_class`,
    )
    .all(stationId) as { state: string; stock_class: string; n: number }[];
  return {
    asOf: at.toISOString(),
    byState: rows.map((r) => ({
      state: r.state as StockOnHand['byState'][number]['state'],
      stockClass: r.stock_class as 'production' | 'test',
      count: r.n,
    })),
  };
}

/** The next batch after what the central office acknowledged. */
export function buildPush(
  db: Db,
  at: Date,
  limits: { records?: number; audit?: number } = {},
): PushRequest {
  const { stationId } = getStationIdentity(db);
  const s = readSyncState(db);
  const records = (
    db
      .prepare('SELECT * FROM outbox WHERE id > ? ORDER BY id LIMIT ?')
      .all(
        s.ackedOutboxSeq,
        Math.min(limits.records ?? SYNC_LIMITS.maxRecordsPerPush, SYNC_LIMITS.maxRecordsPerPush),
      ) as OutboxRow[]
  ).map((r): PushRecord => ({
    seq: r.id,
    kind: r.kind,
    idempotencyKey: r.idempotency_key,
    createdAt: r.created_at,
    payload: JSON.parse(r.payload) as PushRecord['payload'],
    auditHead:
      r.audit_seq === null || r.audit_hash === null
        ? null
        : { seq: r.audit_seq, hash: r.audit_hash, signature: r.audit_sig },
  }));
  const auditEntries = (
    db
      .prepare('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?')
      .all(
        s.ackedAuditSeq,
        Math.min(
          limits.audit ?? SYNC_LIMITS.maxAuditEntriesPerPush,
          SYNC_LIMITS.maxAuditEntriesPerPush,
        ),
      ) as AuditRow[]
  ).map((r): PushAuditEntry => ({
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    stationId: r.station_id,
    action: r.action,
    details: r.details,
    prevHash: r.prev_hash,
    hash: r.hash,
    signature: r.sig,
  }));
  const lastSent = records.at(-1)?.seq ?? s.ackedOutboxSeq;
  const after = db
    .prepare('SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE id > ?')
    .get(lastSent) as { n: number; oldest: string | null };
  return {
    protocol: SYNC_PROTOCOL,
    stationId,
    records,
    auditEntries,
    stock: stockSnapshot(db, stationId, at),
    outbox: { waiting: after.n, oldestWaitingAt: after.oldest },
  };
}

/** Records what the central office acknowledged: the seqs, and a delivery row for each newly
 * acknowledged outbox record. An acknowledgement below the station's (the central office lost
 * records) moves the station back, so they are sent again. */
export function recordAck(
  db: Db,
  ack: { ackedSeq: number; auditAckedSeq: number },
  at: Date,
): { newlyAcked: number } {
  return db.transaction(() => {
    const s = readSyncState(db);
    const maxOutbox = db.prepare('SELECT coalesce(max(id), 0) FROM outbox').pluck().get() as number;
    const maxAudit = db
      .prepare('SELECT coalesce(max(seq), 0) FROM audit_log')
      .pluck()
      .get() as number;
    if (ack.ackedSeq > maxOutbox || ack.auditAckedSeq > maxAudit)
      throw new SyncRemoteError(
        200,
        'HTTP_ERROR',
        `the central office acknowledged seq ${ack.ackedSeq} / audit ${ack.auditAckedSeq}, beyond what this station has (${maxOutbox} / ${maxAudit}): it is not this station's central office, or its data is not this station's`,
      );
    const r = db
      .prepare(
        `INSERT INTO outbox_delivery (outbox_id, delivered_at)
         SELECT id, ? FROM outbox WHERE id > ? AND id <= ? ON CONFLICT DO NOTHING`,
      )
      .run(at.toISOString(), Math.min(s.ackedOutboxSeq, ack.ackedSeq), ack.ackedSeq);
    updateSyncState(db, { ackedOutboxSeq: ack.ackedSeq, ackedAuditSeq: ack.auditAckedSeq });
    return { newlyAcked: r.changes };
  })();
}

export interface PushOutcome {
  sent: number;
  auditSent: number;
  response: PushResponse;
}

/** Sends one batch and records the acknowledgement. A SEQ_GAP or AUDIT_GAP answer (the central
 * office expects an earlier seq) moves the station back to where it says, and is reported. */
export async function pushOnce(
  db: Db,
  client: SyncClient,
  at: Date,
  limits: { records?: number; audit?: number } = {},
): Promise<PushOutcome> {
  const req = buildPush(db, at, limits);
  let response: PushResponse;
  try {
    response = await client.post(PUSH_PATH, req, pushResponseSchema);
  } catch (e) {
    if (
      e instanceof SyncRemoteError &&
      (e.code === 'SEQ_GAP' || (e.code as string) === 'AUDIT_GAP')
    ) {
      const s = readSyncState(db);
      recordAck(
        db,
        {
          ackedSeq: e.expectedSeq !== undefined ? e.expectedSeq - 1 : s.ackedOutboxSeq,
          auditAckedSeq:
            e.expectedAuditSeq !== undefined ? e.expectedAuditSeq - 1 : s.ackedAuditSeq,
        },
        at,
      );
    }
    throw e;
  }
  recordAck(db, response, at);
  return { sent: req.records.length, auditSent: req.auditEntries.length, response };
}

/** Whether anything waits for the central office. */
export function somethingToPush(db: Db): boolean {
  const s = readSyncState(db);
  return Boolean(
    db.prepare('SELECT 1 FROM outbox WHERE id > ? LIMIT 1').get(s.ackedOutboxSeq) ??
    db.prepare('SELECT 1 FROM audit_log WHERE seq > ? LIMIT 1').get(s.ackedAuditSeq),
  );
}

export { waitingRecords };
