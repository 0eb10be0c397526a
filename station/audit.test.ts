import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAudit, writeAudit } from './audit.ts';
import { createTestStation, type TestStation } from './testing.ts';

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
