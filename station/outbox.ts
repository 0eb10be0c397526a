import { randomUUID } from 'node:crypto';
import { preparedOnce, type Db } from '../db/open.ts';
import { auditHead } from './audit.ts';

export interface OutboxRecord {
  id: number;
  kind: string;
  payload: unknown;
  idempotencyKey: string;
  createdAt: string;
  /** The audit head when the record was queued (seq, entry hash, signature by the station
   * audit key): the central office keeps it as the anchor of the station's audit chain.
   * Null only for records queued before the station had audit signatures. */
  auditHead: { seq: number; hash: string; signature: string | null } | null;
  deliveredAt: string | null;
}

/**
 * Queues a record for the central office. Call it inside the transaction of the state change
 * it reports (better-sqlite3 transactions nest), so both land or neither does. The idempotency
 * key (a random UUID unless given) lets the central office drop a second delivery. The outbox is
 * append-only (triggers): a record is never changed or removed once queued.
 */
export function enqueueOutbox(
  db: Db,
  kind: string,
  payload: unknown,
  opts: { idempotencyKey?: string; at?: Date } = {},
): { id: number; idempotencyKey: string } {
  if (!/^[a-z][a-z0-9_.-]*$/.test(kind))
    throw new Error(`outbox kind ${JSON.stringify(kind)} is not a valid kind`);
  const idempotencyKey = opts.idempotencyKey ?? randomUUID();
  const json = JSON.stringify(payload);
  if (json === undefined) throw new Error('outbox payload must be JSON-serialisable');
  const r = db.transaction(() => {
    const head = auditHead(db);
    return preparedOnce(
      db,
      `INSERT INTO outbox (kind, payload, idempotency_key, created_at, audit_seq, audit_hash, audit_sig)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      kind,
      json,
      idempotencyKey,
      (opts.at ?? new Date()).toISOString(),
      head.seq,
      head.hash,
      head.signature,
    );
  })();
  return { id: Number(r.lastInsertRowid), idempotencyKey };
}

interface OutboxRow {
  id: number;
  kind: string;
  payload: string;
  idempotency_key: string;
  created_at: string;
  audit_seq: number | null;
  audit_hash: string | null;
  audit_sig: string | null;
  delivered_at: string | null;
}

function toRecord(r: OutboxRow): OutboxRecord {
  return {
    id: r.id,
    kind: r.kind,
    payload: JSON.parse(r.payload) as unknown,
    idempotencyKey: r.idempotency_key,
    createdAt: r.created_at,
    auditHead:
      r.audit_seq === null || r.audit_hash === null
        ? null
        : { seq: r.audit_seq, hash: r.audit_hash, signature: r.audit_sig },
    deliveredAt: r.delivered_at,
  };
}

const SELECT_RECORDS = `SELECT o.*, d.delivered_at AS delivered_at
  FROM outbox o LEFT JOIN outbox_delivery d ON d.outbox_id = o.id`;

/** Records not yet delivered, oldest first. */
export function pendingOutbox(db: Db, limit = 100): OutboxRecord[] {
  return (
    db
      .prepare(`${SELECT_RECORDS} WHERE d.outbox_id IS NULL ORDER BY o.id LIMIT ?`)
      .all(limit) as OutboxRow[]
  ).map(toRecord);
}

/** One record, delivered or not. */
export function getOutboxRecord(db: Db, id: number): OutboxRecord | undefined {
  const row = db.prepare(`${SELECT_RECORDS} WHERE o.id = ?`).get(id) as OutboxRow | undefined;
  return row && toRecord(row);
}

/** Marks a record delivered (idempotent: a second call keeps the first time). Delivery is a
 * row in outbox_delivery, itself append-only. */
export function markOutboxDelivered(db: Db, id: number, at: Date = new Date()): void {
  db.transaction(() => {
    if (!db.prepare('SELECT 1 FROM outbox WHERE id = ?').get(id))
      throw new Error(`no outbox record ${id}`);
    db.prepare(
      'INSERT INTO outbox_delivery (outbox_id, delivered_at) VALUES (?, ?) ON CONFLICT DO NOTHING',
    ).run(id, at.toISOString());
  })();
}
