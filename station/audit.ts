import { createHash } from 'node:crypto';
import type { Db } from '../db/open.ts';

/** The hash the first entry links to. */
export const AUDIT_GENESIS = '0'.repeat(64);

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  stationId: string;
  action: string;
  details: unknown;
  prevHash: string;
  hash: string;
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
}

/** The hash of one entry: SHA-256 over its fields (including its position and the previous hash). */
export function auditEntryHash(e: {
  seq: number;
  at: string;
  actor: string;
  stationId: string;
  action: string;
  details: string;
  prevHash: string;
}): string {
  const material = JSON.stringify([
    e.seq,
    e.at,
    e.actor,
    e.stationId,
    e.action,
    e.details,
    e.prevHash,
  ]);
  return createHash('sha256').update(material, 'utf8').digest('hex');
}

function stationIdOf(db: Db): string {
  const row = db.prepare('SELECT station_id FROM station WHERE id = 1').get() as
    { station_id: string } | undefined;
  return row?.station_id ?? '(uninitialised)';
}

/**
 * Appends an entry to the hash-chained audit log and moves the chain head, in one transaction
 * (nested in the caller's if there is one). `actor` is a user name or a user object. Never put
 * secrets in `details`.
 */
export function writeAudit(
  db: Db,
  entry: {
    actor: string | { username: string };
    action: string;
    details?: unknown;
    at?: Date;
    stationId?: string;
  },
): AuditEntry {
  return db.transaction((): AuditEntry => {
    const head = db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1').get() as
      { seq: number; hash: string } | undefined;
    const seq = (head?.seq ?? 0) + 1;
    const prevHash = head?.hash ?? AUDIT_GENESIS;
    const actor = typeof entry.actor === 'string' ? entry.actor : entry.actor.username;
    const at = (entry.at ?? new Date()).toISOString();
    const stationId = entry.stationId ?? stationIdOf(db);
    const details = JSON.stringify(entry.details ?? {});
    const hash = auditEntryHash({
      seq,
      at,
      actor,
      stationId,
      action: entry.action,
      details,
      prevHash,
    });
    db.prepare(
      `INSERT INTO audit_log (seq, at, actor, station_id, action, details, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(seq, at, actor, stationId, entry.action, details, prevHash, hash);
    if (head) db.prepare('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1').run(seq, hash);
    else db.prepare('INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)').run(seq, hash);
    return {
      seq,
      at,
      actor,
      stationId,
      action: entry.action,
      details: entry.details ?? {},
      prevHash,
      hash,
    };
  })();
}

export function listAudit(db: Db, opts: { limit?: number; afterSeq?: number } = {}): AuditEntry[] {
  const rows = db
    .prepare('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?')
    .all(opts.afterSeq ?? 0, opts.limit ?? 1000) as AuditRow[];
  return rows.map((r) => ({
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    stationId: r.station_id,
    action: r.action,
    details: safeParse(r.details),
    prevHash: r.prev_hash,
    hash: r.hash,
  }));
}

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
}

export type AuditProblemKind =
  | 'edited'
  | 'removed'
  | 'reordered'
  | 'truncated'
  | 'head_missing'
  | 'head_mismatch'
  | 'protection_removed';

export interface AuditProblem {
  kind: AuditProblemKind;
  /** The entry concerned (for removed/truncated: the first missing one). */
  seq: number | null;
  /** For removed/truncated: the last missing entry. */
  toSeq?: number;
  message: string;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  headSeq: number | null;
  problems: AuditProblem[];
}

const PROTECTING_TRIGGERS = [
  'audit_log_no_update',
  'audit_log_no_delete',
  'audit_head_no_delete',
  'audit_head_forward_only',
];

/**
 * Walks the audit chain and names every entry that was edited, removed (in the middle or at
 * the end) or moved, plus any protecting trigger that was dropped.
 */
export function verifyAudit(db: Db): AuditVerification {
  const problems: AuditProblem[] = [];
  const present = new Set(
    (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as {
        name: string;
      }[]
    ).map((r) => r.name),
  );
  for (const t of PROTECTING_TRIGGERS) {
    if (!present.has(t))
      problems.push({
        kind: 'protection_removed',
        seq: null,
        message: `the trigger ${t} that protects the audit log was removed`,
      });
  }
  const rows = db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as AuditRow[];
  // hash -> seq of the entry that carries it, to recognise entries that were moved.
  const bySelfHash = new Map<string, number>();
  for (const r of rows) bySelfHash.set(r.hash, r.seq);

  let expectedSeq = 1;
  let prevHash = AUDIT_GENESIS;
  for (const r of rows) {
    if (r.seq > expectedSeq) {
      problems.push({
        kind: 'removed',
        seq: expectedSeq,
        toSeq: r.seq - 1,
        message:
          r.seq - 1 === expectedSeq
            ? `entry #${expectedSeq} was removed`
            : `entries #${expectedSeq}..#${r.seq - 1} were removed`,
      });
      // The entry after a gap cannot link to what we saw last; judge it on its own hash.
      prevHash = r.prev_hash;
    }
    const recomputed = auditEntryHash({
      seq: r.seq,
      at: r.at,
      actor: r.actor,
      stationId: r.station_id,
      action: r.action,
      details: r.details,
      prevHash: r.prev_hash,
    });
    const linkedTo = bySelfHash.get(r.prev_hash);
    const movedHere = linkedTo !== undefined && linkedTo !== r.seq - 1;
    if (movedHere) {
      problems.push({
        kind: 'reordered',
        seq: r.seq,
        message: `entry #${r.seq} is out of order: it was written right after entry #${linkedTo}`,
      });
    } else if (recomputed !== r.hash) {
      problems.push({
        kind: 'edited',
        seq: r.seq,
        message: `entry #${r.seq} (${r.action} by ${r.actor} at ${r.at}) was edited: its contents no longer match its hash`,
      });
    } else if (r.prev_hash !== prevHash) {
      problems.push({
        kind: 'edited',
        seq: r.seq,
        message: `entry #${r.seq} does not link to the entry before it (the chain was rewritten)`,
      });
    }
    prevHash = r.hash;
    expectedSeq = r.seq + 1;
  }
  const head = db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1').get() as
    { seq: number; hash: string } | undefined;
  const lastSeq = rows.length ? rows[rows.length - 1]!.seq : 0;
  if (!head) {
    if (rows.length > 0)
      problems.push({
        kind: 'head_missing',
        seq: null,
        message: 'the audit chain head record is missing (audit_head was emptied)',
      });
  } else if (head.seq > lastSeq) {
    problems.push({
      kind: 'truncated',
      seq: lastSeq + 1,
      toSeq: head.seq,
      message:
        head.seq === lastSeq + 1
          ? `the last entry #${head.seq} was removed`
          : `the last entries #${lastSeq + 1}..#${head.seq} were removed`,
    });
  } else if (head.seq < lastSeq || head.hash !== prevHash) {
    problems.push({
      kind: 'head_mismatch',
      seq: lastSeq,
      message: `the chain head (entry #${head.seq}) does not match the last entry #${lastSeq}`,
    });
  }
  return { ok: problems.length === 0, entries: rows.length, headSeq: head?.seq ?? null, problems };
}
