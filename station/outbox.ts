import { randomUUID } from 'node:crypto';
import type { Db } from '../db/open.ts';

export interface OutboxRecord {
  id: number;
  kind: string;
  payload: unknown;
  idempotencyKey: string;
  createdAt: string;
  deliveredAt: string | null;
}

/**
 * Queues a record for the central office. Call it inside the transaction of the state change
 * it reports (better-sqlite3 transactions nest), so both land or neither does. The idempotency
 * key (a random UUID unless given) lets the central office drop a second delivery.
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
  const r = db
    .prepare('INSERT INTO outbox (kind, payload, idempotency_key, created_at) VALUES (?, ?, ?, ?)')
    .run(kind, json, idempotencyKey, (opts.at ?? new Date()).toISOString());
  return { id: Number(r.lastInsertRowid), idempotencyKey };
}

interface OutboxRow {
  id: number;
  kind: string;
  payload: string;
  idempotency_key: string;
  created_at: string;
  delivered_at: string | null;
}

function toRecord(r: OutboxRow): OutboxRecord {
  return {
    id: r.id,
    kind: r.kind,
    payload: JSON.parse(r.payload) as unknown,
    idempotencyKey: r.idempotency_key,
    createdAt: r.created_at,
    deliveredAt: r.delivered_at,
  };
}

/** Records not yet delivered, oldest first. */
export function pendingOutbox(db: Db, limit = 100): OutboxRecord[] {
  return (
    db
      .prepare('SELECT * FROM outbox WHERE delivered_at IS NULL ORDER BY id LIMIT ?')
      .all(limit) as OutboxRow[]
  ).map(toRecord);
}

/** Marks a record delivered (idempotent: a second call keeps the first time). */
export function markOutboxDelivered(db: Db, id: number, at: Date = new Date()): void {
  const r = db
    .prepare('UPDATE outbox SET delivered_at = coalesce(delivered_at, ?) WHERE id = ?')
    .run(at.toISOString(), id);
  if (r.changes !== 1) throw new Error(`no outbox record ${id}`);
}
