import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bookletHistory, lookupBooklet } from './booklets.ts';
import { PermissionError } from './errors.ts';
import {
  IllegalTransitionError,
  recordTransition,
  transition,
  UnknownBookletError,
} from './lifecycle.ts';
import { enqueueOutbox, pendingOutbox } from './outbox.ts';
import { listAudit, writeAudit } from './audit.ts';
import { createTestStation, type TestStation } from './testing.ts';

let st: TestStation;
beforeEach(() => {
  st = createTestStation();
});
afterEach(() => st.close());

describe('booklet life cycle', () => {
  it('walks received -> allocated -> in_process -> issued, one event per step', () => {
    const [s] = st.receive('B-1', 1);
    const { supervisor, operator } = st.users;
    transition(st.db, { serial: s!, to: 'allocated', actor: supervisor, reason: 'allocation' });
    transition(st.db, { serial: s!, to: 'in_process', actor: operator, reason: 'job 17' });
    const r = transition(st.db, {
      serial: s!,
      to: 'issued',
      actor: operator,
      reason: 'passport issued',
    });
    expect(r).toMatchObject({ from: 'in_process', to: 'issued', toHolder: 'LIM-AIR-01' });
    const h = bookletHistory(st.db, s!);
    expect(h.map((e) => [e.from, e.to, e.actor])).toEqual([
      [null, 'received', 'super'],
      ['received', 'allocated', 'super'],
      ['allocated', 'in_process', 'oper'],
      ['in_process', 'issued', 'oper'],
    ]);
    expect(h.every((e) => e.stationId === 'LIM-AIR-01' && e.reason.length > 0)).toBe(true);
  });

  it('throws a typed error for an illegal transition and changes nothing', () => {
    const [s] = st.receive('B-2', 1);
    expect(() =>
      transition(st.db, { serial: s!, to: 'issued', actor: st.users.operator, reason: 'x' }),
    ).toThrow(IllegalTransitionError);
    expect(lookupBooklet(st.db, s!)!.state).toBe('received');
    expect(bookletHistory(st.db, s!)).toHaveLength(1);
    expect(() =>
      transition(st.db, {
        serial: 'PE7777777',
        to: 'allocated',
        actor: st.users.supervisor,
        reason: 'x',
      }),
    ).toThrow(UnknownBookletError);
  });

  it('never issues test stock, and never test-consumes production stock', () => {
    const [t] = st.receive('T-1', 1, { prefix: 'TS', stockClass: 'test' });
    const [p] = st.receive('P-1', 1, { prefix: 'PP' });
    const { supervisor, technician } = st.users;
    for (const s of [t!, p!]) {
      transition(st.db, { serial: s, to: 'allocated', actor: supervisor, reason: 'a' });
      transition(st.db, { serial: s, to: 'in_process', actor: supervisor, reason: 'b' });
    }
    expect(() =>
      transition(st.db, { serial: t!, to: 'issued', actor: supervisor, reason: 'c' }),
    ).toThrow(/test stock can never be issued/);
    expect(() =>
      transition(st.db, { serial: p!, to: 'test_consumed', actor: supervisor, reason: 'c' }),
    ).toThrow(/production stock is not used for tests/);
    transition(st.db, {
      serial: t!,
      to: 'test_consumed',
      actor: technician,
      reason: 'nozzle check',
    });
    expect(lookupBooklet(st.db, t!)!.state).toBe('test_consumed');
    // The schema refuses it as well, should anything bypass this module.
    expect(() =>
      st.db.prepare("UPDATE booklets SET state = 'issued' WHERE serial = ?").run(t!),
    ).toThrow(/CHECK constraint/);
  });

  it('checks roles in code: operators do not allocate, technicians do not touch production stock', () => {
    const [s] = st.receive('B-3', 1);
    expect(() =>
      transition(st.db, { serial: s!, to: 'allocated', actor: st.users.operator, reason: 'x' }),
    ).toThrow(PermissionError);
    transition(st.db, { serial: s!, to: 'allocated', actor: st.users.supervisor, reason: 'x' });
    expect(() =>
      transition(st.db, { serial: s!, to: 'in_process', actor: st.users.technician, reason: 'x' }),
    ).toThrow(PermissionError);
  });

  it('requires a reason', () => {
    const [s] = st.receive('B-4', 1);
    expect(() =>
      transition(st.db, { serial: s!, to: 'voided', actor: st.users.supervisor, reason: '  ' }),
    ).toThrow(/reason is required/);
  });

  it('lands the event, an outbox record and an audit entry in one transaction, or none', () => {
    const [s] = st.receive('B-5', 1);
    const outboxBefore = pendingOutbox(st.db).length;
    expect(() =>
      st.db.transaction(() => {
        transition(st.db, { serial: s!, to: 'allocated', actor: st.users.supervisor, reason: 'a' });
        enqueueOutbox(st.db, 'booklet.allocated', { serial: s });
        writeAudit(st.db, { actor: st.users.supervisor, action: 'x' });
        throw new Error('device failed');
      })(),
    ).toThrow('device failed');
    expect(lookupBooklet(st.db, s!)!.state).toBe('received');
    expect(pendingOutbox(st.db)).toHaveLength(outboxBefore);
    st.db.transaction(() => {
      transition(st.db, { serial: s!, to: 'allocated', actor: st.users.supervisor, reason: 'a' });
      enqueueOutbox(st.db, 'booklet.allocated', { serial: s });
    })();
    expect(pendingOutbox(st.db)).toHaveLength(outboxBefore + 1);
  });

  it('records a transition with its outbox record and audit entry', () => {
    const [s] = st.receive('B-7', 1);
    const r = recordTransition(
      st.db,
      { serial: s!, to: 'voided', actor: st.users.supervisor, reason: 'torn cover' },
      {
        outbox: { kind: 'booklet.voided', payload: { serial: s }, idempotencyKey: `void:${s}` },
        audit: { action: 'booklet.voided' },
      },
    );
    expect(r.outboxId).not.toBeNull();
    expect(pendingOutbox(st.db).find((o) => o.id === r.outboxId)).toMatchObject({
      idempotencyKey: `void:${s}`,
    });
    const last = listAudit(st.db).at(-1)!;
    expect(last).toMatchObject({ seq: r.auditSeq, action: 'booklet.voided', actor: 'super' });
    expect(last.details).toMatchObject({
      serial: s,
      from: 'received',
      to: 'voided',
      reason: 'torn cover',
    });
    // A duplicate idempotency key rolls the whole transition back.
    const [s2] = st.receive('B-8', 1, { prefix: 'PX' });
    expect(() =>
      recordTransition(
        st.db,
        { serial: s2!, to: 'voided', actor: st.users.supervisor, reason: 'x' },
        { outbox: { kind: 'booklet.voided', payload: {}, idempotencyKey: `void:${s}` } },
      ),
    ).toThrow(/UNIQUE/);
    expect(lookupBooklet(st.db, s2!)!.state).toBe('received');
  });

  it('keeps events append-only at the database level', () => {
    st.receive('B-6', 1);
    expect(() => st.db.prepare("UPDATE booklet_events SET reason = 'x'").run()).toThrow(
      /append-only/,
    );
    expect(() => st.db.prepare('DELETE FROM booklet_events').run()).toThrow(/append-only/);
  });
});
