import { createHash, verify, type KeyObject } from 'node:crypto';
import { PROTECTING_TRIGGERS_V3 } from '../db/migrations.ts';
import { preparedOnce, readSnapshot, type Db } from '../db/open.ts';
import type { AuditAnchor, AuditKey } from './keys/audit-key.ts';

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
  /** Signature by the station audit key (base64); null for entries older than audit keys. */
  signature: string | null;
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
  const row = preparedOnce(db, 'SELECT station_id FROM station WHERE id = 1').get() as
    { station_id: string } | undefined;
  return row?.station_id ?? '(uninitialised)';
}

/** What the audit key signs for an entry: its hash (which covers every field, its position and
 * the previous hash), under a label no other signature of the station uses. */
export function auditEntryStatement(hash: string): Buffer {
  return Buffer.from(`perso-station/audit-entry@1\n${hash}`, 'utf8');
}

/** What the audit key signs for the anchor: the station, the head's seq and its hash. */
export function auditAnchorStatement(stationId: string, seq: number, hash: string): Buffer {
  return Buffer.from(`perso-station/audit-anchor@1\n${stationId}\n${seq}\n${hash}`, 'utf8');
}

/** The database has no station audit key to sign with: nothing was written. */
export class AuditKeyUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditKeyUnavailableError';
  }
}

// The audit key each open database signs with, or how to open it on first use.
const auditKeys = new WeakMap<Db, AuditKey | (() => AuditKey)>();
// Databases whose anchor must be moved once the caller's transaction has ended.
const anchorPending = new WeakSet<Db>();
// An anchor write that failed after its transaction: the next writeAudit reports it.
const anchorFailures = new WeakMap<Db, Error>();

/** Says which audit key `db` signs with: the key itself, or a function that opens it (called at
 * the first entry written). station/identity.ts openStationDb wires the station's custody. */
export function useAuditKey(db: Db, key: AuditKey | (() => AuditKey)): void {
  auditKeys.set(db, key);
}

/** The audit key of `db`, opened on first use; throws naming why there is none. */
export function auditKeyOf(db: Db): AuditKey {
  const source = auditKeys.get(db);
  if (!source)
    throw new AuditKeyUnavailableError(
      'this database has no station audit key to sign with: open it with openStationDb (the key custody of its data directory)',
    );
  if (typeof source !== 'function') return source;
  const key = source();
  auditKeys.set(db, key);
  return key;
}

function signB64(key: AuditKey, data: Buffer): string {
  return key.sign(data).toString('base64');
}

/** Moves the anchor outside the database to the committed head. */
function anchorHead(db: Db, key: AuditKey): void {
  const head = preparedOnce(db, 'SELECT seq, hash FROM audit_head WHERE id = 1').get() as
    { seq: number; hash: string } | undefined;
  if (!head) return;
  const signature = signB64(key, auditAnchorStatement(key.stationId, head.seq, head.hash));
  key.writeAnchor({ seq: head.seq, hash: head.hash, signature });
}

/** Anchors once the outermost transaction has ended (better-sqlite3 transactions are
 * synchronous: by the next microtask it committed or rolled back). Written before the commit,
 * a rolled-back entry would leave an anchor pointing past the chain. */
function scheduleAnchor(db: Db, key: AuditKey): void {
  if (anchorPending.has(db)) return;
  anchorPending.add(db);
  const attempt = (tries: number): void => {
    if (db.open && db.inTransaction && tries < 100) {
      setImmediate(() => attempt(tries + 1));
      return;
    }
    anchorPending.delete(db);
    if (!db.open) return;
    try {
      anchorHead(db, key);
    } catch (e) {
      anchorFailures.set(db, e as Error);
    }
  };
  queueMicrotask(() => attempt(0));
}

/** Writes the anchor now if an entry is waiting for one (call before closing a database
 * whose last entries were written inside a transaction). */
export function flushAuditAnchor(db: Db): void {
  if (!anchorPending.has(db) || db.inTransaction) return;
  anchorPending.delete(db);
  anchorHead(db, auditKeyOf(db));
}

/**
 * Appends an entry to the hash-chained audit log, signs it with the station audit key and
 * moves the chain head, in one transaction (nested in the caller's if there is one); then moves
 * the anchor outside the database once that transaction has ended. `actor` is a user name or a
 * user object. Never put secrets in `details`.
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
  const failed = anchorFailures.get(db);
  if (failed) {
    anchorFailures.delete(db);
    throw new AuditKeyUnavailableError(
      `the audit anchor could not be written after the last entry: ${failed.message}`,
    );
  }
  const key = auditKeyOf(db);
  const written = db.transaction((): AuditEntry => {
    const head = preparedOnce(db, 'SELECT seq, hash FROM audit_head WHERE id = 1').get() as
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
    const signature = signB64(key, auditEntryStatement(hash));
    preparedOnce(
      db,
      `INSERT INTO audit_log (seq, at, actor, station_id, action, details, prev_hash, hash, sig)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(seq, at, actor, stationId, entry.action, details, prevHash, hash, signature);
    if (head)
      preparedOnce(db, 'UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1').run(seq, hash);
    else preparedOnce(db, 'INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)').run(seq, hash);
    return {
      seq,
      at,
      actor,
      stationId,
      action: entry.action,
      details: entry.details ?? {},
      prevHash,
      hash,
      signature,
    };
  })();
  if (db.inTransaction) scheduleAnchor(db, key);
  else anchorHead(db, key);
  return written;
}

/** The current audit head (seq, entry hash and signature), carried by every outbox record. */
export function auditHead(db: Db): { seq: number; hash: string; signature: string | null } {
  const row = preparedOnce(
    db,
    `SELECT h.seq AS seq, h.hash AS hash, l.sig AS sig
         FROM audit_head h LEFT JOIN audit_log l ON l.seq = h.seq WHERE h.id = 1`,
  ).get() as { seq: number; hash: string; sig: string | null } | undefined;
  return row
    ? { seq: row.seq, hash: row.hash, signature: row.sig }
    : { seq: 0, hash: AUDIT_GENESIS, signature: null };
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
    signature: r.sig,
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
  | 'forged'
  | 'head_missing'
  | 'head_mismatch'
  | 'protection_removed'
  | 'protection_altered'
  | 'anchor_missing'
  | 'anchor_invalid'
  | 'anchor_mismatch'
  | 'key_unavailable';

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
  /** The seq the anchor outside the database vouches for, if it was read. */
  anchorSeq: number | null;
  problems: AuditProblem[];
}

/** What verification needs of the audit key: its public half and the anchor. The public key
 * comes from key custody (or the central office), never from the database. */
export interface AuditVerifier {
  stationId: string;
  publicKey: KeyObject;
  readAnchor(): AuditAnchor | undefined;
}

/** The action of the entry that starts signing on a station set up before audit keys. */
export const AUDIT_KEY_ENROLLED = 'audit.key_enrolled';

function checkSignature(publicKey: KeyObject, data: Buffer, b64: string): boolean {
  try {
    return verify(
      'sha256',
      data,
      { key: publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(b64, 'base64'),
    );
  } catch {
    return false;
  }
}

/** Each protecting trigger must be present with exactly its definition, and no other trigger
 * may sit on the protected tables. */
function checkTriggers(db: Db, problems: AuditProblem[]): void {
  const rows = db
    .prepare("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
    .all() as { name: string; tbl_name: string; sql: string | null }[];
  const byName = new Map(rows.map((r) => [r.name, r]));
  const expected = new Set(PROTECTING_TRIGGERS_V3.map((t) => t.name));
  const tables = new Set(PROTECTING_TRIGGERS_V3.map((t) => t.table));
  for (const t of PROTECTING_TRIGGERS_V3) {
    const found = byName.get(t.name);
    if (!found)
      problems.push({
        kind: 'protection_removed',
        seq: null,
        message: `the trigger ${t.name} that protects ${t.table} was removed`,
      });
    else if (found.sql !== t.sql || found.tbl_name !== t.table)
      problems.push({
        kind: 'protection_altered',
        seq: null,
        message: `the trigger ${t.name} that protects ${t.table} was altered: its definition is not the one the station created`,
      });
  }
  for (const r of rows)
    if (tables.has(r.tbl_name) && !expected.has(r.name))
      problems.push({
        kind: 'protection_altered',
        seq: null,
        message: `an unknown trigger ${r.name} was added to ${r.tbl_name}`,
      });
}

/** The verifier of `db`'s own audit key (custody opened on first use), or why there is none. */
function defaultVerifier(db: Db): AuditVerifier | Error {
  try {
    return auditKeyOf(db);
  } catch (e) {
    return e as Error;
  }
}

/**
 * Walks the audit chain and names every entry that was edited, removed (in the middle or at
 * the end), moved or not signed by the station audit key; checks the protecting triggers by
 * their definition; and compares the chain with the anchor kept outside the database.
 */
export function verifyAudit(db: Db, verifier?: AuditVerifier): AuditVerification {
  const v = verifier ?? defaultVerifier(db);
  // The anchor first, then the chain in one snapshot: a station process writing beside us
  // anchors after it commits, so an anchor read first can only lag the chain, never lead it
  // (read the other way round, a live station would look truncated).
  let anchor: AuditAnchor | undefined | Error;
  if (!(v instanceof Error))
    try {
      anchor = v.readAnchor();
    } catch (e) {
      anchor = e as Error;
    }
  return readSnapshot(db, () => verifyChain(db, v, anchor));
}

function verifyChain(
  db: Db,
  v: AuditVerifier | Error,
  anchorRead: AuditAnchor | undefined | Error,
): AuditVerification {
  const problems: AuditProblem[] = [];
  checkTriggers(db, problems);
  if (v instanceof Error)
    problems.push({
      kind: 'key_unavailable',
      seq: null,
      message: `the signatures and the anchor were not checked: ${v.message}`,
    });
  const key = v instanceof Error ? undefined : v;

  const rows = db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as AuditRow[];
  // hash -> seq of the entry that carries it, to recognise entries that were moved.
  const bySelfHash = new Map<string, number>();
  for (const r of rows) bySelfHash.set(r.hash, r.seq);
  // Unsigned entries are accepted only before a signed enrolment entry that vouches for them
  // (a station set up before audit keys); on any other station every entry is signed.
  const enrolment = rows.find((r) => r.sig !== null);
  const legacyUntil = enrolment && enrolment.action === AUDIT_KEY_ENROLLED ? enrolment.seq - 1 : 0;

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
    if (key) {
      if (r.sig === null) {
        if (r.seq > legacyUntil)
          problems.push({
            kind: 'forged',
            seq: r.seq,
            message: `entry #${r.seq} (${r.action} by ${r.actor} at ${r.at}) is not signed by the station audit key: it was written without the key (forged)`,
          });
      } else if (!checkSignature(key.publicKey, auditEntryStatement(r.hash), r.sig)) {
        problems.push({
          kind: 'forged',
          seq: r.seq,
          message: `entry #${r.seq} (${r.action} by ${r.actor} at ${r.at}) carries a signature that the station audit key did not make (forged or rewritten)`,
        });
      }
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
  const anchorSeq = key ? checkAnchor(key, anchorRead, rows, lastSeq, problems) : null;
  return {
    ok: problems.length === 0,
    entries: rows.length,
    headSeq: head?.seq ?? null,
    anchorSeq,
    problems,
  };
}

/** Compares the chain with the anchor outside the database; returns the anchor's seq. */
function checkAnchor(
  key: AuditVerifier,
  anchor: AuditAnchor | undefined | Error,
  rows: AuditRow[],
  lastSeq: number,
  problems: AuditProblem[],
): number | null {
  if (anchor instanceof Error) {
    problems.push({ kind: 'anchor_invalid', seq: null, message: anchor.message });
    return null;
  }
  if (!anchor) {
    if (rows.some((r) => r.sig !== null))
      problems.push({
        kind: 'anchor_missing',
        seq: null,
        message:
          'the audit anchor outside the database is missing: entries cut from the end of the chain could not be noticed',
      });
    return null;
  }
  if (
    !checkSignature(
      key.publicKey,
      auditAnchorStatement(key.stationId, anchor.seq, anchor.hash),
      anchor.signature,
    )
  ) {
    problems.push({
      kind: 'anchor_invalid',
      seq: anchor.seq,
      message: `the audit anchor (entry #${anchor.seq}) is not signed by the station audit key`,
    });
    return anchor.seq;
  }
  if (anchor.seq > lastSeq) {
    problems.push({
      kind: 'truncated',
      seq: lastSeq + 1,
      toSeq: anchor.seq,
      message: `the chain was truncated: the anchor says entry #${anchor.seq} exists, the database ends at #${lastSeq}`,
    });
    return anchor.seq;
  }
  const at = rows.find((r) => r.seq === anchor.seq);
  if (at && at.hash !== anchor.hash)
    problems.push({
      kind: 'anchor_mismatch',
      seq: anchor.seq,
      message: `entry #${anchor.seq} is not the one the anchor vouches for: the chain was rewritten up to there`,
    });
  return anchor.seq;
}
