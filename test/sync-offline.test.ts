/**
 * The offline allowance and retention at the station, with an allowance signed by a central
 * office key made here (the round trips with the real central office are in sync-central).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  allowanceStatement,
  signWith,
  SYNC_PROTOCOL,
  type OfflineAllowance,
  type PullResponse,
} from '../contracts/sync.ts';
import { enqueueOutbox } from '../station/outbox.ts';
import {
  applyRetention,
  checkIssuanceAllowed,
  recordAck,
  storeAllowance,
} from '../station/sync/index.ts';
import { updateSyncState, writeSyncConfig } from '../station/sync/state.ts';
import { createTestStation, TEST_STATION, type TestStation } from '../station/testing.ts';
import { auditKeyId } from '../station/keys/audit-key.ts';

let st: TestStation;
let central: { privateKey: KeyObject; publicKey: KeyObject };
const T0 = new Date('2026-03-01T08:00:00.000Z');
const hours = (h: number) => new Date(T0.getTime() + h * 3_600_000);

function allowance(over: Partial<OfflineAllowance> = {}): PullResponse['allowance'] {
  const a: OfflineAllowance = {
    format: 'perso-sync/offline-allowance@1',
    stationId: TEST_STATION,
    issuedAt: T0.toISOString(),
    maxOfflineHours: 48,
    maxOfflineIssuances: 5,
    maxLostStolenAgeHours: 60,
    retentionHours: 24,
    ...over,
  };
  return {
    allowance: a,
    signature: signWith(central.privateKey, allowanceStatement(a)),
    keyId: auditKeyId(central.publicKey),
  };
}

function pulled(a = allowance(), at = T0): PullResponse {
  return {
    protocol: SYNC_PROTOCOL,
    items: [],
    cursor: 0,
    more: false,
    allowance: a,
    lostStolenAsOf: at.toISOString(),
    serverTime: at.toISOString(),
  };
}

function issue(i: number, applicationId = i): number {
  return enqueueOutbox(
    st.db,
    'issuance',
    { jobId: i, applicationId, documentNumber: `PE${String(i).padStart(7, '0')}` },
    { at: T0 },
  ).id;
}

beforeEach(() => {
  st = createTestStation();
  central = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeSyncConfig(st.db, {
    centralUrl: 'http://127.0.0.1:1',
    centralKeyPem: central.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    stationKeyId: 'test',
    enrolledAt: T0.toISOString(),
    enrolledBy: st.users.admin.id,
    appliedBy: st.users.supervisor.id,
  });
});
afterEach(() => st.close());

describe('checkIssuanceAllowed', () => {
  it('allows a station with no central office, and stops an enrolled one without an allowance', () => {
    expect(checkIssuanceAllowed(st.db, T0)).toMatchObject({ ok: false, limit: 'no_allowance' });
    st.db.exec('DELETE FROM sync_config');
    expect(checkIssuanceAllowed(st.db, T0)).toEqual({ ok: true, enrolled: false });
  });

  it('allows issuance within each limit and names the one exceeded', () => {
    storeAllowance(st.db, pulled());
    updateSyncState(st.db, { lastSuccessAt: T0.toISOString() });
    expect(checkIssuanceAllowed(st.db, hours(1))).toMatchObject({
      ok: true,
      remaining: { issuances: 5 },
    });
    for (let i = 1; i <= 4; i++) issue(i);
    expect(checkIssuanceAllowed(st.db, hours(2))).toMatchObject({
      ok: true,
      remaining: { issuances: 1 },
    });
    issue(5);
    const full = checkIssuanceAllowed(st.db, hours(2));
    expect(full).toMatchObject({ ok: false, limit: 'max_offline_issuances' });
    if (!full.ok) {
      expect(full.message).toMatch(/5 issuances wait for the central office.*permits 5/);
      expect(full.action).toMatch(/restore the connection/);
    }
    // Acknowledged issuances no longer count as offline ones.
    recordAck(st.db, { ackedSeq: 5, auditAckedSeq: 0 }, hours(2));
    updateSyncState(st.db, { lastSuccessAt: hours(2).toISOString() });
    expect(checkIssuanceAllowed(st.db, hours(3)).ok).toBe(true);
    expect(checkIssuanceAllowed(st.db, hours(51))).toMatchObject({
      ok: false,
      limit: 'max_offline_hours',
    });
  });

  it('stops when the lost/stolen list is older than allowed', () => {
    storeAllowance(st.db, pulled(allowance({ maxOfflineHours: 100, maxLostStolenAgeHours: 10 })));
    updateSyncState(st.db, { lastSuccessAt: hours(5).toISOString() });
    expect(checkIssuanceAllowed(st.db, hours(9)).ok).toBe(true);
    const r = checkIssuanceAllowed(st.db, hours(11));
    expect(r).toMatchObject({ ok: false, limit: 'lost_stolen_list_stale' });
    if (!r.ok) expect(r.message).toMatch(/lost\/stolen list is 11\.0 hours old/);
  });

  it('refuses an allowance not signed by the enrolled central office key, and one edited in the database', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = allowance({ maxOfflineIssuances: 1000 });
    forged.signature = signWith(other.privateKey, allowanceStatement(forged.allowance));
    expect(() => storeAllowance(st.db, pulled(forged))).toThrow(
      /not signed by the central office key/,
    );
    expect(() => storeAllowance(st.db, pulled(allowance({ stationId: 'OTHER-01' })))).toThrow(
      /names another station/,
    );
    storeAllowance(st.db, pulled());
    updateSyncState(st.db, { lastSuccessAt: T0.toISOString() });
    const row = st.db.prepare('SELECT allowance FROM sync_state').pluck().get() as string;
    updateSyncState(st.db, {
      allowance: row.replace('"maxOfflineIssuances":5', '"maxOfflineIssuances":500'),
    });
    expect(checkIssuanceAllowed(st.db, hours(1))).toMatchObject({
      ok: false,
      limit: 'allowance_invalid',
    });
  });
});

describe('retention', () => {
  function personalizedApplication(id: number): void {
    st.db
      .prepare(
        `INSERT INTO applications (id, status, received_at, received_by, document_code, issuing_state,
           content_digest, key_label, wrapped_key, document_number, updated_at)
         VALUES (?, 'personalized', ?, ?, 'P', 'PER', ?, 'data/applications/v1', NULL, ?, ?)`,
      )
      .run(
        id,
        T0.toISOString(),
        st.users.supervisor.id,
        `digest-${id}`,
        `PE000000${id}`,
        T0.toISOString(),
      );
  }

  it('erases what is left of an application once its issuance is acknowledged and the period has passed', () => {
    storeAllowance(st.db, pulled(allowance({ retentionHours: 24 })));
    personalizedApplication(1);
    personalizedApplication(2);
    issue(1, 1);
    issue(2, 2);
    // Not acknowledged: nothing is erased, however long it waits.
    expect(applyRetention(st.db, hours(1000)).erased).toEqual([]);
    recordAck(st.db, { ackedSeq: 1, auditAckedSeq: 0 }, hours(10));
    expect(applyRetention(st.db, hours(33)).erased).toEqual([]); // 23 h after the ack
    expect(applyRetention(st.db, hours(34)).erased).toEqual([1]);
    const row = st.db
      .prepare('SELECT status, content_digest, document_number FROM applications WHERE id = 1')
      .get();
    expect(row).toEqual({
      status: 'personalized',
      content_digest: 'erased:1',
      document_number: 'PE0000001',
    });
    // Application 2's issuance was never acknowledged: kept.
    expect(
      st.db.prepare('SELECT content_digest FROM applications WHERE id = 2').pluck().get(),
    ).toBe('digest-2');
    expect(applyRetention(st.db, hours(100)).erased).toEqual([]);
    const audit = st.db
      .prepare("SELECT details FROM audit_log WHERE action = 'sync.retention_erased'")
      .pluck()
      .all();
    expect(audit).toEqual([JSON.stringify({ applicationIds: [1], retentionHours: 24 })]);
  });
});
