/**
 * Push ingestion: a batch of outbox records, audit entries and the stock on hand, stored in one
 * transaction with the station's row locked (two deliveries of one batch run one after the
 * other). Records are unique on (station, seq) and (station, idempotency key): a retry stores
 * nothing twice; a batch that skips seqs is refused with the seq to resume from.
 */
import { createPublicKey } from 'node:crypto';
import type pg from 'pg';
import {
  SYNC_PROTOCOL,
  type PushRequest,
  type PushResponse,
  type PushRecord,
} from '../contracts/sync.ts';
import { AUDIT_GENESIS, checkEntries, entrySignatureValid, type AuditFlag } from './audit-chain.ts';
import { inTransaction } from './db.ts';
import { CentralError } from './errors.ts';

export async function ingestPush(
  pool: pg.Pool,
  stationId: string,
  body: PushRequest,
  now: Date,
): Promise<PushResponse> {
  checkAscending(
    body.records.map((r) => r.seq),
    'records',
    true,
  );
  checkAscending(
    body.auditEntries.map((e) => e.seq),
    'auditEntries',
    false,
  );
  return inTransaction(pool, async (c) => {
    const st = await c.query<{
      acked_seq: string;
      audit_acked_seq: string;
      audit_public_key: string;
    }>(
      'SELECT acked_seq, audit_acked_seq, audit_public_key FROM stations WHERE station_id = $1 FOR UPDATE',
      [stationId],
    );
    const row = st.rows[0];
    if (!row) throw new CentralError('UNKNOWN_STATION', `station ${stationId} is not enrolled`);
    const auditKey = createPublicKey(row.audit_public_key);
    const flags: AuditFlag[] = [];

    // Audit entries first, so the records' audit heads can be compared with them.
    const auditAcked = Number(row.audit_acked_seq);
    const last = await c.query<{ hash: string }>(
      'SELECT hash FROM audit_entries WHERE station_id = $1 ORDER BY seq DESC LIMIT 1',
      [stationId],
    );
    const signed = await c.query(
      'SELECT 1 FROM audit_entries WHERE station_id = $1 AND sig IS NOT NULL LIMIT 1',
      [stationId],
    );
    const checked = await checkEntries(
      body.auditEntries,
      {
        lastSeq: auditAcked,
        lastHash: last.rows[0]?.hash ?? AUDIT_GENESIS,
        signedSeen: (signed.rowCount ?? 0) > 0,
        seqOfHash: async (hash) => {
          const r = await c.query<{ seq: string }>(
            'SELECT seq FROM audit_entries WHERE station_id = $1 AND hash = $2 LIMIT 1',
            [stationId, hash],
          );
          return r.rows[0] ? Number(r.rows[0].seq) : undefined;
        },
        storedHash: async (seq) => {
          const r = await c.query<{ hash: string }>(
            'SELECT hash FROM audit_entries WHERE station_id = $1 AND seq = $2',
            [stationId, seq],
          );
          return r.rows[0]?.hash;
        },
      },
      auditKey,
    );
    flags.push(...checked.flags);
    if (checked.fresh.length > 0) {
      const f = checked.fresh;
      await c.query(
        `INSERT INTO audit_entries (station_id, seq, at, actor, entry_station_id, action, details,
           prev_hash, hash, sig, received_at)
         SELECT $1, * , $11 FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
           $7::text[], $8::text[], $9::text[], $10::text[])`,
        [
          stationId,
          f.map((e) => e.seq),
          f.map((e) => e.at),
          f.map((e) => e.actor),
          f.map((e) => e.stationId),
          f.map((e) => e.action),
          f.map((e) => e.details),
          f.map((e) => e.prevHash),
          f.map((e) => e.hash),
          f.map((e) => e.signature),
          now,
        ],
      );
    }

    const { stored, duplicates, ackedSeq } = await storeRecords(
      c,
      stationId,
      Number(row.acked_seq),
      body.records,
      now,
    );
    flags.push(...(await checkAuditHeads(c, stationId, body.records, auditKey)));

    if (flags.length > 0)
      await c.query(
        `INSERT INTO audit_flags (station_id, seq, to_seq, kind, message, flagged_at)
         SELECT $1, * , $6 FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[])`,
        [
          stationId,
          flags.map((f) => f.seq),
          flags.map((f) => f.toSeq ?? null),
          flags.map((f) => f.kind),
          flags.map((f) => f.message),
          now,
        ],
      );

    await storeStock(c, stationId, body);
    const auditAckedSeq = Math.max(auditAcked, checked.lastSeq);
    await c.query(
      `UPDATE stations SET acked_seq = $2, audit_acked_seq = $3, last_seen_at = $4,
         outbox_waiting = $5, outbox_oldest_at = $6 WHERE station_id = $1`,
      [stationId, ackedSeq, auditAckedSeq, now, body.outbox.waiting, body.outbox.oldestWaitingAt],
    );
    return {
      protocol: SYNC_PROTOCOL,
      ackedSeq,
      auditAckedSeq,
      stored,
      duplicates,
      serverTime: now.toISOString(),
    };
  });
}

function checkAscending(seqs: number[], what: string, contiguous: boolean): void {
  for (let i = 1; i < seqs.length; i++) {
    const ok = contiguous ? seqs[i] === seqs[i - 1]! + 1 : seqs[i]! > seqs[i - 1]!;
    if (!ok)
      throw new CentralError(
        'INVALID_BODY',
        `${what}[${i}]: seq ${seqs[i]} after ${seqs[i - 1]}: ${what} must come in ${contiguous ? 'contiguous ' : ''}ascending seq order`,
      );
  }
}

async function storeRecords(
  c: pg.PoolClient,
  stationId: string,
  acked: number,
  records: readonly PushRecord[],
  now: Date,
): Promise<{ stored: number; duplicates: number; ackedSeq: number }> {
  if (records.length === 0) return { stored: 0, duplicates: 0, ackedSeq: acked };
  const first = records[0]!.seq;
  if (first > acked + 1)
    throw new CentralError(
      'SEQ_GAP',
      `the batch starts at seq ${first}; the central office has up to ${acked}: send from ${acked + 1}`,
      { expectedSeq: acked + 1 },
    );
  const old = records.filter((r) => r.seq <= acked);
  if (old.length > 0) {
    const have = await c.query<{ seq: string; idempotency_key: string }>(
      'SELECT seq, idempotency_key FROM records WHERE station_id = $1 AND seq BETWEEN $2 AND $3',
      [stationId, first, acked],
    );
    const keyAt = new Map(have.rows.map((r) => [Number(r.seq), r.idempotency_key]));
    for (const r of old)
      if (keyAt.get(r.seq) !== r.idempotencyKey)
        throw new CentralError(
          'SEQ_CONFLICT',
          `seq ${r.seq} is already stored with another record (idempotency key differs)`,
        );
  }
  const fresh = records.filter((r) => r.seq > acked);
  if (fresh.length > 0) {
    try {
      await c.query(
        `INSERT INTO records (station_id, seq, kind, idempotency_key, created_at, payload,
           audit_seq, audit_hash, audit_sig, received_at)
         SELECT $1, s, k, i, t, p::jsonb, aseq, ah, asig, $10
           FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],
             $7::bigint[], $8::text[], $9::text[]) AS u(s, k, i, t, p, aseq, ah, asig)`,
        [
          stationId,
          fresh.map((r) => r.seq),
          fresh.map((r) => r.kind),
          fresh.map((r) => r.idempotencyKey),
          fresh.map((r) => r.createdAt),
          fresh.map((r) => JSON.stringify(r.payload)),
          fresh.map((r) => r.auditHead?.seq ?? null),
          fresh.map((r) => r.auditHead?.hash ?? null),
          fresh.map((r) => r.auditHead?.signature ?? null),
          now,
        ],
      );
    } catch (e) {
      if ((e as { code?: string }).code === '23505')
        throw new CentralError(
          'SEQ_CONFLICT',
          'an idempotency key of this batch is already stored at another seq',
        );
      throw e;
    }
  }
  return {
    stored: fresh.length,
    duplicates: old.length,
    ackedSeq: Math.max(acked, records[records.length - 1]!.seq),
  };
}

/** A record's audit head must be the stored entry at that seq; one not stored yet must at
 * least carry the audit key's signature. */
async function checkAuditHeads(
  c: pg.PoolClient,
  stationId: string,
  records: readonly PushRecord[],
  auditKey: ReturnType<typeof createPublicKey>,
): Promise<AuditFlag[]> {
  const heads = new Map<number, { hash: string; signature: string | null; recordSeq: number }>();
  for (const r of records)
    if (r.auditHead && r.auditHead.seq > 0 && !heads.has(r.auditHead.seq))
      heads.set(r.auditHead.seq, { ...r.auditHead, recordSeq: r.seq });
  if (heads.size === 0) return [];
  const stored = await c.query<{ seq: string; hash: string }>(
    'SELECT seq, hash FROM audit_entries WHERE station_id = $1 AND seq = ANY($2::bigint[])',
    [stationId, [...heads.keys()]],
  );
  const hashAt = new Map(stored.rows.map((r) => [Number(r.seq), r.hash]));
  const flags: AuditFlag[] = [];
  for (const [seq, h] of heads) {
    const known = hashAt.get(seq);
    if (known !== undefined) {
      if (known !== h.hash)
        flags.push({
          kind: 'head_mismatch',
          seq,
          message: `record #${h.recordSeq} was queued at audit entry #${seq}, but that entry's hash differs from the one received: the chain was rewritten`,
        });
    } else if (h.signature !== null && !entrySignatureValid(auditKey, h.hash, h.signature)) {
      flags.push({
        kind: 'forged',
        seq,
        message: `record #${h.recordSeq} carries an audit head #${seq} the station audit key did not sign`,
      });
    }
  }
  return flags;
}

/** Keeps the newest stock on hand the station reported (an older push arriving late does not
 * overwrite it). */
async function storeStock(c: pg.PoolClient, stationId: string, body: PushRequest): Promise<void> {
  const cur = await c.query<{ as_of: Date }>(
    'SELECT max(as_of) AS as_of FROM stock_on_hand WHERE station_id = $1',
    [stationId],
  );
  const curAsOf = cur.rows[0]?.as_of;
  if (curAsOf && curAsOf.getTime() > Date.parse(body.stock.asOf)) return;
  await c.query('DELETE FROM stock_on_hand WHERE station_id = $1', [stationId]);
  const rows = body.stock.byState;
  if (rows.length === 0) {
    // Nothing on hand is a report too: keep the time it was true.
    await c.query(
      `INSERT INTO stock_on_hand (station_id, state, stock_class, count, as_of)
       VALUES ($1, 'received', 'production', 0, $2)`,
      [stationId, body.stock.asOf],
    );
    return;
  }
  await c.query(
    `INSERT INTO stock_on_hand (station_id, state, stock_class, count, as_of)
     SELECT $1, s, k, n, $5 FROM unnest($2::text[], $3::text[], $4::int[]) AS u(s, k, n)
     ON CONFLICT (station_id, state, stock_class) DO UPDATE SET count = stock_on_hand.count + excluded.count`,
    [
      stationId,
      rows.map((r) => r.state),
      rows.map((r) => r.stockClass),
      rows.map((r) => r.count),
      body.stock.asOf,
    ],
  );
}
