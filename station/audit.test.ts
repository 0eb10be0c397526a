import Database from 'better-sqlite3';
import { generateKeyPairSync, sign } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROTECTING_TRIGGERS_V3 } from '../db/migrations.ts';
import { stationDbPath } from '../db/open.ts';
import {
  auditEntryHash,
  auditEntryStatement,
  flushAuditAnchor,
  verifyAudit,
  writeAudit,
} from './audit.ts';
import { enrollAuditKey, openStationDb } from './identity.ts';
import { AUDIT_ANCHOR_FILE, forgetAuditKeys } from './keys/audit-key.ts';
import { createTestStation, useTestAuditKey, type TestStation } from './testing.ts';

let st: TestStation;
beforeEach(() => {
  st = createTestStation();
  for (let i = 0; i < 10; i++)
    writeAudit(st.db, { actor: 'admin', action: 'test.entry', details: { i } });
});
afterEach(() => st.close());

const count = (): number => st.db.prepare('SELECT count(*) FROM audit_log').pluck().get() as number;
function dropGuards(): void {
  st.db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
}

describe('audit chain', () => {
  it('verifies an untouched log', () => {
    const v = verifyAudit(st.db);
    expect(v).toMatchObject({ ok: true, problems: [] });
    expect(v.entries).toBe(count());
  });

  it('refuses UPDATE and DELETE through triggers', () => {
    expect(() => st.db.prepare("UPDATE audit_log SET actor = 'x' WHERE seq = 3").run()).toThrow(
      /append-only/,
    );
    expect(() => st.db.prepare('DELETE FROM audit_log WHERE seq = 3').run()).toThrow(/append-only/);
  });

  it('names an edited entry (and the dropped triggers)', () => {
    dropGuards();
    st.db.prepare(`UPDATE audit_log SET details = '{"i":99}' WHERE seq = 7`).run();
    const v = verifyAudit(st.db);
    expect(v.ok).toBe(false);
    expect(v.problems.filter((p) => p.kind === 'edited').map((p) => p.seq)).toEqual([7]);
    expect(v.problems.some((p) => p.kind === 'protection_removed')).toBe(true);
  });

  it('names a removed entry in the middle', () => {
    dropGuards();
    st.db.prepare('DELETE FROM audit_log WHERE seq = 5').run();
    const v = verifyAudit(st.db);
    const removed = v.problems.filter((p) => p.kind === 'removed');
    expect(removed).toEqual([expect.objectContaining({ seq: 5, message: 'entry #5 was removed' })]);
    expect(v.problems.filter((p) => p.kind === 'edited')).toEqual([]);
  });

  it('names entries removed from the end (truncation)', () => {
    const last = count();
    dropGuards();
    st.db.prepare('DELETE FROM audit_log WHERE seq >= ?').run(last - 1);
    const v = verifyAudit(st.db);
    expect(v.problems).toContainEqual(
      expect.objectContaining({ kind: 'truncated', seq: last - 1, toSeq: last }),
    );
  });

  it('notices truncation even when the head is emptied too', () => {
    dropGuards();
    st.db.exec(
      'DROP TRIGGER audit_head_no_delete; DELETE FROM audit_head; DELETE FROM audit_log WHERE seq > 8',
    );
    const v = verifyAudit(st.db);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.kind)).toEqual(
      expect.arrayContaining(['head_missing', 'protection_removed']),
    );
  });

  it('names reordered entries', () => {
    dropGuards();
    st.db.exec(`UPDATE audit_log SET seq = -6 WHERE seq = 6;
      UPDATE audit_log SET seq = 6 WHERE seq = 8;
      UPDATE audit_log SET seq = 8 WHERE seq = -6;`);
    const v = verifyAudit(st.db);
    const reordered = v.problems.filter((p) => p.kind === 'reordered').map((p) => p.seq);
    expect(reordered).toContain(6);
    expect(reordered).toContain(8);
    expect(v.problems.find((p) => p.seq === 6)!.message).toMatch(
      /#6 is out of order: it was written right after entry #7/,
    );
  });
});

// The attacks below are written as an attacker with write access to the database file would
// run them: their own better-sqlite3 connection, no station code, no audit key.
describe('audit chain against an attacker holding the database file', () => {
  const file = (): string => stationDbPath(st.dataDir);
  function attacker(fn: (raw: Database.Database) => void): void {
    flushAuditAnchor(st.db);
    const raw = new Database(file());
    try {
      fn(raw);
    } finally {
      raw.close();
    }
  }
  const row = (raw: Database.Database, seq: number) =>
    raw.prepare('SELECT * FROM audit_log WHERE seq = ?').get(seq) as {
      seq: number;
      at: string;
      actor: string;
      station_id: string;
      action: string;
      details: string;
      hash: string;
      sig: string | null;
    };
  /** Appends an entry with a correct hash chain and moves the head one step, as the triggers allow. */
  function appendForged(
    raw: Database.Database,
    sig: (hash: string) => string | null,
    content: { at?: string; actor?: string; action?: string; details?: string } = {},
  ): number {
    const head = raw.prepare('SELECT seq, hash FROM audit_head').get() as {
      seq: number;
      hash: string;
    };
    const e = {
      seq: head.seq + 1,
      at: content.at ?? new Date().toISOString(),
      actor: content.actor ?? 'super',
      stationId: 'LIM-AIR-01',
      action: content.action ?? 'stock.marked_voided',
      details: content.details ?? '{"serials":["PE0000001"]}',
      prevHash: head.hash,
    };
    const hash = auditEntryHash(e);
    raw
      .prepare('INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(e.seq, e.at, e.actor, e.stationId, e.action, e.details, e.prevHash, hash, sig(hash));
    raw.prepare('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1').run(e.seq, hash);
    return e.seq;
  }

  it('(a) names a forged entry appended with the head moved one step', () => {
    let seq = 0;
    attacker((raw) => {
      seq = appendForged(raw, () => null);
    });
    const v = verifyAudit(st.db);
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([
      expect.objectContaining({
        kind: 'forged',
        seq,
        message: expect.stringMatching(
          new RegExp(
            `^entry #${seq} \\(stock.marked_voided by super .*\\) is not signed by the station audit key`,
          ),
        ),
      }),
    ]);
  });

  it('(a) names a forged entry signed with a key of the attacker', () => {
    const own = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    let seq = 0;
    attacker((raw) => {
      seq = appendForged(raw, (hash) =>
        sign('sha256', auditEntryStatement(hash), { key: own, dsaEncoding: 'ieee-p1363' }).toString(
          'base64',
        ),
      );
    });
    expect(verifyAudit(st.db).problems).toEqual([
      expect.objectContaining({
        kind: 'forged',
        seq,
        message: expect.stringMatching(/did not make/),
      }),
    ]);
  });

  it('(a) names every entry of a chain rewritten from the middle, head and all', () => {
    attacker((raw) => {
      raw.exec(
        'DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_head_forward_only',
      );
      const tail = raw
        .prepare('SELECT * FROM audit_log WHERE seq >= 5 ORDER BY seq')
        .all() as ReturnType<typeof row>[];
      raw.prepare('DELETE FROM audit_log WHERE seq >= 5').run();
      const head = row(raw, 4);
      raw.prepare('UPDATE audit_head SET seq = 4, hash = ?').run(head.hash);
      // Entry 5 says something else now; 6..10 are copied as they were, re-chained.
      for (const r of tail)
        appendForged(raw, () => r.sig, {
          ...r,
          details: r.seq === 5 ? '{"i":99}' : r.details,
        });
      // Put the exact triggers back so that only the chain itself can tell.
      for (const t of PROTECTING_TRIGGERS_V3.filter(
        (t) => !raw.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(t.name),
      ))
        raw.exec(t.sql);
    });
    const v = verifyAudit(st.db);
    expect(v.ok).toBe(false);
    const forged = v.problems.filter((p) => p.kind === 'forged').map((p) => p.seq);
    expect(forged).toEqual(Array.from({ length: count() - 4 }, (_, i) => i + 5));
    expect(v.problems.map((p) => p.kind)).toEqual([
      ...forged.map(() => 'forged'),
      'anchor_mismatch',
    ]);
  });

  it('(b) names protecting triggers replaced by do-nothing triggers of the same names', () => {
    attacker((raw) =>
      raw.exec(`DROP TRIGGER audit_log_no_update;
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT 1; END;
        DROP TRIGGER audit_head_forward_only;
        CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head WHEN 0 BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward one entry at a time'); END;`),
    );
    const v = verifyAudit(st.db);
    expect(v.problems).toEqual([
      expect.objectContaining({
        kind: 'protection_altered',
        message:
          'the trigger audit_log_no_update that protects audit_log was altered: its definition is not the one the station created',
      }),
      expect.objectContaining({
        kind: 'protection_altered',
        message: expect.stringMatching(
          /^the trigger audit_head_forward_only that protects audit_head was altered/,
        ),
      }),
    ]);
  });

  it('(b) names a trigger added to a protected table', () => {
    attacker((raw) =>
      raw.exec(`CREATE TRIGGER audit_log_quiet AFTER INSERT ON audit_log BEGIN SELECT 1; END;`),
    );
    expect(verifyAudit(st.db).problems).toEqual([
      expect.objectContaining({
        kind: 'protection_altered',
        message: 'an unknown trigger audit_log_quiet was added to audit_log',
      }),
    ]);
  });

  it('(c) names the truncation when the last entries are deleted and the head moved back', () => {
    const last = count();
    attacker((raw) => {
      raw.exec('DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_head_forward_only');
      raw.prepare('DELETE FROM audit_log WHERE seq > ?').run(last - 2);
      raw.prepare('UPDATE audit_head SET seq = ?, hash = ?').run(last - 2, row(raw, last - 2).hash);
      for (const t of PROTECTING_TRIGGERS_V3.filter(
        (t) => !raw.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(t.name),
      ))
        raw.exec(t.sql);
    });
    const v = verifyAudit(st.db);
    expect(v.problems).toEqual([
      {
        kind: 'truncated',
        seq: last - 1,
        toSeq: last,
        message: `the chain was truncated: the anchor says entry #${last} exists, the database ends at #${last - 2}`,
      },
    ]);
  });

  it('names an anchor removed or replaced next to the database', () => {
    const anchorFile = join(st.dataDir, AUDIT_ANCHOR_FILE);
    const saved = readFileSync(anchorFile, 'utf8');
    rmSync(anchorFile);
    expect(verifyAudit(st.db).problems.map((p) => p.kind)).toEqual(['anchor_missing']);
    const forged = JSON.parse(saved) as Record<string, unknown>;
    writeFileSync(
      anchorFile,
      JSON.stringify({ ...forged, seq: 3, hash: row(st.db as never, 3).hash }),
    );
    expect(verifyAudit(st.db).problems).toEqual([
      expect.objectContaining({
        kind: 'anchor_invalid',
        message: 'the audit anchor (entry #3) is not signed by the station audit key',
      }),
    ]);
  });

  it('cannot write an entry without the audit key: write access to the file is not enough', () => {
    flushAuditAnchor(st.db);
    forgetAuditKeys(); // a new process, which has not opened the key custody
    const db = openStationDb(st.dataDir);
    try {
      const before = count();
      expect(() => writeAudit(db, { actor: 'admin', action: 'x' })).toThrow(
        /no key custody is configured in .*the audit log is signed with the station audit key/,
      );
      expect(count()).toBe(before);
    } finally {
      db.close();
    }
  });

  it('keeps the anchor at the committed head when a transaction with an entry rolls back', async () => {
    const before = count();
    expect(() =>
      st.db.transaction(() => {
        writeAudit(st.db, { actor: 'admin', action: 'rolled.back' });
        throw new Error('caller fails');
      })(),
    ).toThrow('caller fails');
    st.db.transaction(() => writeAudit(st.db, { actor: 'admin', action: 'kept' }))();
    await new Promise((r) => setImmediate(r));
    const v = verifyAudit(st.db);
    expect(v).toMatchObject({ ok: true, entries: before + 1, anchorSeq: before + 1 });
  });

  it('cannot tell a restored copy of both the database and its anchor (the central office can)', () => {
    const before = count();
    flushAuditAnchor(st.db);
    const anchorFile = join(st.dataDir, AUDIT_ANCHOR_FILE);
    const oldAnchor = readFileSync(anchorFile);
    const oldDb = join(st.dataDir, 'old.sqlite');
    st.db.exec(`VACUUM INTO '${oldDb}'`);
    writeAudit(st.db, { actor: 'admin', action: 'later' });
    st.db.close();
    copyFileSync(oldDb, file());
    rmSync(`${file()}-wal`, { force: true });
    rmSync(`${file()}-shm`, { force: true });
    writeFileSync(anchorFile, oldAnchor);
    st.db = openStationDb(st.dataDir);
    // Documented limit (docs/ledger.md): a rollback of both is only seen against the heads the
    // central office received in outbox records.
    expect(verifyAudit(st.db)).toMatchObject({ ok: true, entries: before, anchorSeq: before });
    st.db.close();
  });
});

describe('a station set up before audit keys', () => {
  /** Rewrites the log as a station before schema 3 left it: a hash chain without signatures. */
  function makeLegacy(): number {
    flushAuditAnchor(st.db);
    rmSync(join(st.dataDir, AUDIT_ANCHOR_FILE));
    const raw = new Database(stationDbPath(st.dataDir));
    try {
      raw.exec('DROP TRIGGER audit_log_no_update');
      raw.prepare('UPDATE audit_log SET sig = NULL').run();
      raw.exec(PROTECTING_TRIGGERS_V3.find((t) => t.name === 'audit_log_no_update')!.sql);
      return raw.prepare('SELECT max(seq) FROM audit_log').pluck().get() as number;
    } finally {
      raw.close();
    }
  }

  it('has every unsigned entry named until an admin enrolls an audit key', () => {
    const legacy = makeLegacy();
    const before = verifyAudit(st.db);
    expect(before.problems.filter((p) => p.kind === 'forged').map((p) => p.seq)).toEqual(
      Array.from({ length: legacy }, (_, i) => i + 1),
    );
    const key = useTestAuditKey(st.dataDir, 'LIM-AIR-01');
    expect(() => enrollAuditKey(st.db, st.users.operator, key)).toThrow(/needs the role admin/);
    const e = enrollAuditKey(st.db, st.users.admin, key);
    expect(e).toMatchObject({
      seq: legacy + 1,
      action: 'audit.key_enrolled',
      details: { unsignedEntries: legacy },
    });
    expect(verifyAudit(st.db, key)).toMatchObject({ ok: true, anchorSeq: legacy + 1 });
    expect(() => enrollAuditKey(st.db, st.users.admin, key)).toThrow(/signs its audit log already/);
    // After enrolment an unsigned entry is a forgery again.
    const raw = new Database(stationDbPath(st.dataDir));
    raw.exec('DROP TRIGGER audit_log_no_update');
    raw.prepare('UPDATE audit_log SET sig = NULL WHERE seq = ?').run(legacy + 1);
    raw.close();
    expect(verifyAudit(st.db, key).problems.map((p) => [p.kind, p.seq])).toEqual(
      expect.arrayContaining([
        ['protection_removed', null],
        ['forged', 1],
        ['forged', legacy + 1],
      ]),
    );
  });
});
