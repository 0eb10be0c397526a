/**
 * Property-based tests of the booklet life cycle: thousands of random operation sequences,
 * each against a model; afterwards no booklet is lost, none issued twice, no test booklet
 * issued, and every day's reconciliation balances and chains into the next.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  BOOKLET_STATES,
  IllegalTransitionError,
  ON_HAND_STATES,
  transition,
  type BookletState,
} from './lifecycle.ts';
import { PermissionError } from './errors.ts';
import { importManifest } from './stock.ts';
import { reconcileDay } from './reconcile.ts';
import { createTestStation, type TestStation } from './testing.ts';
import type { Role } from './users.ts';

let st: TestStation;
// How often each state was reached, to check the sequences go deep.
const STATS: Record<string, number> = {};
let manifests: { serial: string; test: boolean }[] = [];
let manifestText = '';
const OTHER_STATIONS = ['LIM-AIR-02', 'CUZ-01'];
const BASE = Date.parse('2026-03-01T15:00:00Z');

beforeAll(() => {
  st = createTestStation();
  const prod = st.manifest({ batchId: 'PROP-P', count: 4, prefix: 'PP' });
  const test = st.manifest({ batchId: 'PROP-T', count: 2, prefix: 'TT', stockClass: 'test' });
  manifestText = JSON.stringify([prod.text, test.text]);
  manifests = [
    ...prod.body.booklets.map((b) => ({ serial: b.serial, test: false })),
    ...test.body.booklets.map((b) => ({ serial: b.serial, test: true })),
  ];
});
afterAll(() => st.close());

// The model's view of legality, written independently of lifecycle.ts's table.
const ALLOWED: Record<string, Role[]> = {
  'received>allocated': ['supervisor'],
  'received>voided': ['supervisor'],
  'received>lost_stolen': ['supervisor'],
  'received>returned': ['supervisor'],
  'allocated>in_process': ['operator', 'supervisor', 'technician'],
  'allocated>received': ['supervisor'],
  'allocated>voided': ['supervisor'],
  'allocated>lost_stolen': ['supervisor'],
  'allocated>returned': ['supervisor'],
  'in_process>issued': ['operator', 'supervisor'],
  'in_process>spoiled': ['operator', 'supervisor', 'technician'],
  'in_process>refused': ['operator', 'supervisor', 'technician'],
  'in_process>test_consumed': ['technician', 'supervisor'],
  'in_process>allocated': ['operator', 'supervisor', 'technician'],
  'in_process>lost_stolen': ['supervisor'],
};

function modelAllows(from: BookletState, to: BookletState, role: Role, test: boolean): boolean {
  const roles = ALLOWED[`${from}>${to}`];
  if (!roles || !roles.includes(role)) return false;
  if (test && to === 'issued') return false;
  if (!test && to === 'test_consumed') return false;
  if (role === 'technician' && !test) return false;
  return true;
}

const opArb = fc.record({
  booklet: fc.nat({ max: 5 }),
  // Mostly moves along an edge of the model's graph by one of the roles it lists (so sequences
  // get deep), sometimes anything at all (so refusals are exercised too).
  along: fc.boolean(),
  pick: fc.nat({ max: 99 }),
  to: fc.constantFrom(...BOOKLET_STATES),
  role: fc.constantFrom<Role>('operator', 'supervisor', 'technician', 'admin'),
  toStation: fc.option(fc.constantFrom(...OTHER_STATIONS), { freq: 3 }),
  advanceDays: fc.constantFrom(0, 0, 0, 1, 2),
});

it('no random sequence loses a booklet, issues one twice or test stock, or unbalances a day', () => {
  let runs = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' }), (ops) => {
      runs++;
      const db = st.db;
      db.exec('BEGIN');
      try {
        const [prodText, testText] = JSON.parse(manifestText) as [string, string];
        importManifest(db, st.users.supervisor, prodText, new Date(BASE));
        importManifest(db, st.users.supervisor, testText, new Date(BASE));
        const state = new Map(manifests.map((m) => [m.serial, 'received' as BookletState]));
        const issuedCount = new Map<string, number>();
        let day = 0;
        for (const op of ops) {
          day += op.advanceDays;
          const m = manifests[op.booklet]!;
          const from = state.get(m.serial)!;
          let to = op.to;
          let role = op.role;
          const edges = Object.keys(ALLOWED).filter((k) => k.startsWith(`${from}>`));
          if (op.along && edges.length) {
            // The first edge listed is the main path: take it half of the time.
            const edge = (op.pick < 50 ? edges[0] : edges[op.pick % edges.length])!;
            to = edge.split('>')[1] as BookletState;
            const roles = ALLOWED[edge]!;
            role = roles[Math.floor(op.pick / edges.length) % roles.length]!;
          }
          const allowed = modelAllows(from, to, role, m.test);
          const toStation =
            from === 'received' && to === 'allocated' ? (op.toStation ?? undefined) : undefined;
          try {
            transition(db, {
              serial: m.serial,
              to,
              actor: st.users[role],
              reason: 'property test',
              toStation,
              at: new Date(BASE + day * 86_400_000 + 60_000),
            });
            expect(allowed, `${m.serial} ${from}->${to} by ${role} should be refused`).toBe(true);
            state.set(m.serial, to);
            STATS[to] = (STATS[to] ?? 0) + 1;
            if (to === 'issued') issuedCount.set(m.serial, (issuedCount.get(m.serial) ?? 0) + 1);
          } catch (e) {
            if (!(e instanceof IllegalTransitionError) && !(e instanceof PermissionError)) throw e;
            expect(
              allowed,
              `${m.serial} ${from}->${to} by ${role} should pass: ${(e as Error).message}`,
            ).toBe(false);
          }
        }
        // Nothing lost: every serial is there, in the state the model expects.
        const rows = db.prepare('SELECT serial, state, stock_class FROM booklets').all() as {
          serial: string;
          state: BookletState;
          stock_class: string;
        }[];
        expect(rows).toHaveLength(manifests.length);
        for (const r of rows) {
          expect(r.state).toBe(state.get(r.serial));
          if (r.stock_class === 'test') expect(r.state).not.toBe('issued');
        }
        // Never issued twice.
        const twice = db
          .prepare(
            "SELECT booklet_id FROM booklet_events WHERE to_state = 'issued' GROUP BY booklet_id HAVING count(*) > 1",
          )
          .all();
        expect(twice).toEqual([]);
        expect([...issuedCount.values()].every((n) => n === 1)).toBe(true);
        // Each day balances and chains into the next; the last closing is the stock on hand.
        const closing = new Map<string, number>();
        for (let d = 0; d <= day; d++) {
          const date = new Date(BASE + d * 86_400_000).toISOString().slice(0, 10);
          const rec = reconcileDay(db, date);
          expect(rec.balanced, JSON.stringify(rec)).toBe(true);
          for (const s of rec.stations) {
            expect(s.opening).toBe(closing.get(s.stationId) ?? 0);
            closing.set(s.stationId, s.closing);
          }
        }
        const onHand = [...state.values()].filter((s) => ON_HAND_STATES.includes(s)).length;
        expect([...closing.values()].reduce((a, b) => a + b, 0)).toBe(onHand);
      } finally {
        db.exec('ROLLBACK');
      }
    }),
    { numRuns: 1500 },
  );
  expect(runs).toBeGreaterThanOrEqual(1500);
  for (const s of BOOKLET_STATES) expect(STATS[s] ?? 0, `state ${s} reached`).toBeGreaterThan(20);
});
