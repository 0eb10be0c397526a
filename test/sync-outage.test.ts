/**
 * A three-day outage with an injected clock shared by the station and the central office:
 * issuance goes on offline within the signed allowance, stops with its message when the
 * allowance runs out, the central office's view equals the station's after reconnection, and
 * the application's remaining personal data is purged after acknowledgement and retention.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listQueue, markPersonalized, take } from '../station/applications/index.ts';
import { checkIssuanceAllowed, readSyncStatus } from '../station/sync/index.ts';
import { enqueueOutbox } from '../station/outbox.ts';
import { TEST_STATION } from '../station/testing.ts';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.ts';
import {
  centralRecords,
  enrolledStation,
  faceBase64,
  pulledApplication,
  startTestCentral,
  stationRecords,
  type CentralUnderTest,
  type SyncStation,
} from './sync-support.ts';

let clock = new Date('2026-04-10T06:00:00.000Z');
const now = () => clock;
const advance = (hours: number) => {
  clock = new Date(clock.getTime() + hours * 3_600_000);
};

let c: CentralUnderTest;
let proxy: FaultProxy;
let s: SyncStation;
beforeAll(async () => {
  c = await startTestCentral({ now });
  await c.central.adminApi.updateSettings({
    maxOfflineHours: 48,
    maxOfflineIssuances: 100,
    maxLostStolenAgeHours: 72,
    retentionHours: 24,
  });
  const u = new URL(c.central.url);
  proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port) });
  s = await enrolledStation(c.central, proxy.url, { now });
}, 60_000);
afterAll(async () => {
  await s?.close();
  await proxy?.close();
  await c?.close();
});

it('issues offline within the allowance, stops with its message, catches up, then purges', async () => {
  const { st } = s;
  await c.central.adminApi.submitApplication(TEST_STATION, {
    applicationId: 'APP-OUTAGE-1',
    application: pulledApplication(),
    images: [{ name: 'face.jpg', mediaType: 'image/jpeg', base64: faceBase64() }],
  });
  const service = s.service();
  await service.runOnce();
  expect(listQueue(st.db, st.users.operator)).toHaveLength(1);

  // The network goes down.
  proxy.policy = () => 'drop';
  let issued = 0;
  const refusals: { hour: number; limit: string; message: string }[] = [];
  for (let hour = 1; hour <= 72; hour++) {
    advance(1);
    await service.runOnce().catch(() => undefined);
    const allowed = checkIssuanceAllowed(st.db, now());
    if (!allowed.ok) {
      refusals.push({ hour, limit: allowed.limit, message: allowed.message });
      continue;
    }
    issued++;
    if (issued === 1) {
      // The pulled application is personalized offline, as the job does it.
      const a = take(st.db, s.dataKey, st.users.operator, 1, now());
      st.db.transaction(() => {
        markPersonalized(st.db, st.users.operator, a.id, 'PE0000001', now());
        enqueueOutbox(
          st.db,
          'issuance',
          {
            jobId: 1,
            applicationId: a.id,
            documentNumber: 'PE0000001',
            issuedAt: now().toISOString(),
          },
          { idempotencyKey: `${TEST_STATION}/issuance/1`, at: now() },
        );
      })();
    } else s.issue(issued, now());
  }
  expect(readSyncStatus(st.db)).toMatchObject({ connection: 'offline', waiting: 48 });
  // 48 hours of issuance, then the allowance's hours ran out.
  expect(issued).toBe(48);
  expect(refusals).toHaveLength(24);
  expect(refusals[0]).toMatchObject({ hour: 49, limit: 'max_offline_hours' });
  expect(refusals[0]!.message).toMatch(
    /has not reached the central office for 49\.0 hours, more than the 48 hours/,
  );
  expect(await centralRecords(c.central)).toHaveLength(0);

  // The network comes back: everything goes through, and issuance is allowed again.
  proxy.policy = () => 'pass';
  await service.runOnce();
  expect(await centralRecords(c.central)).toEqual(stationRecords(st));
  const counts = await c.central.adminApi.dailyCounts();
  expect(counts.filter((x) => x.stationId === TEST_STATION).reduce((n, x) => n + x.issued, 0)).toBe(
    48,
  );
  expect(checkIssuanceAllowed(st.db, now())).toMatchObject({ ok: true });
  const digest = () =>
    st.db.prepare('SELECT content_digest FROM applications WHERE id = 1').pluck().get() as string;
  expect(digest()).toMatch(/^[0-9a-f]{64}$/);

  // Acknowledged now; retention is 24 hours.
  advance(23);
  await service.runOnce();
  expect(digest()).toMatch(/^[0-9a-f]{64}$/);
  advance(2);
  await service.runOnce();
  expect(digest()).toBe('erased:1');
  expect(
    st.db.prepare('SELECT count(*) FROM application_data WHERE application_id = 1').pluck().get(),
  ).toBe(0);
  expect(listQueue(st.db, st.users.supervisor, { all: true })).toMatchObject([
    { id: 1, status: 'personalized', documentNumber: 'PE0000001' },
  ]);
  // The purge's audit entry reaches the central office with the rest of the chain.
  await service.runOnce();
  expect(await c.central.adminApi.auditFlags(TEST_STATION)).toEqual([]);
}, 120_000);
