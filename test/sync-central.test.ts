/**
 * Enrol, push and pull against the real central office (central/), on embedded PGlite and,
 * when a PostgreSQL server is at hand, on a throwaway PostgreSQL cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listQueue } from '../station/applications/index.ts';
import { stockOnHand } from '../station/booklets.ts';
import {
  checkIssuanceAllowed,
  isReportedLostOrStolen,
  readSyncStatus,
  SyncRemoteError,
} from '../station/sync/index.ts';
import { TEST_AGENCY, TEST_STATION } from '../station/testing.ts';
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
import { backends } from './sync-backends.ts';

describe.each(backends())('sync with the central office on %s', (_name, database) => {
  let c: CentralUnderTest;
  let s: SyncStation;
  beforeAll(async () => {
    c = await startTestCentral({ databaseUrl: await database.url() });
    s = await enrolledStation(c.central, c.central.url);
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await c?.close();
    await database.close();
  });

  it('pushes every record once and in order with the audit chain and stock; pulls through the local use cases', async () => {
    const { st } = s;
    st.receive('B-001', 20);
    for (let i = 1; i <= 25; i++) s.issue(i);
    await c.central.adminApi.submitApplication(TEST_STATION, {
      applicationId: 'APP-1',
      application: pulledApplication(),
      images: [{ name: 'face.jpg', mediaType: 'image/jpeg', base64: faceBase64() }],
    });
    await c.central.adminApi.reportLostStolen('PE0000007', 'stolen');
    await c.central.adminApi.addPullItem(null, {
      kind: 'chip_profile',
      profile: {
        agencyCode: TEST_AGENCY,
        profileId: 'PER-MIG-EMRTD-V4',
        chipOs: 'ePassOS 5.0',
        appletVersion: '4.0.1',
        keyVersion: 4,
      },
    });
    await c.central.adminApi.addPullItem(TEST_STATION, {
      kind: 'user',
      username: 'central-op',
      roles: ['operator'],
      active: true,
    });

    const service = s.service({ batchSize: 10 });
    await service.runOnce();
    // The pull wrote audit entries after the push: the next cycle carries them.
    await service.runOnce();

    expect(await centralRecords(c.central)).toEqual(stationRecords(st));
    const audit = await c.central.adminApi.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM audit_entries WHERE station_id = $1',
      [TEST_STATION],
    );
    const stationAudit = st.db.prepare('SELECT count(*) FROM audit_log').pluck().get() as number;
    expect(Number(audit.rows[0]!.n)).toBe(stationAudit);
    expect(await c.central.adminApi.auditFlags(TEST_STATION)).toEqual([]);
    const stock = (await c.central.adminApi.stockReport()).stations.find(
      (x: { stationId: string }) => x.stationId === TEST_STATION,
    );
    const onHand = stockOnHand(st.db, TEST_STATION).reduce((n, x) => n + x.count, 0);
    expect(stock?.onHand).toBe(onHand);

    // Pulled: the application through the import use case (sealed, audited), the lost/stolen
    // report, the chip profile; the user was not applied, and that is audited.
    expect(listQueue(st.db, st.users.supervisor)).toMatchObject([
      { id: 1, status: 'queued', documentCode: 'P', issuingState: 'PER' },
    ]);
    expect(isReportedLostOrStolen(st.db, 'PE0000007')).toMatchObject({ status: 'stolen' });
    expect(
      st.db
        .prepare("SELECT count(*) FROM chip_profiles WHERE profile_id = 'PER-MIG-EMRTD-V4'")
        .pluck()
        .get(),
    ).toBe(1);
    const actions = st.db
      .prepare(
        "SELECT action, details FROM audit_log WHERE action LIKE 'sync.%' OR action LIKE 'application.%' ORDER BY seq",
      )
      .all() as { action: string; details: string }[];
    expect(actions.map((a) => a.action)).toEqual(
      expect.arrayContaining([
        'sync.enrolled',
        'application.imported',
        'sync.lost_stolen',
        'sync.pull_refused',
        'sync.pulled',
        'sync.allowance',
      ]),
    );
    expect(actions.find((a) => a.action === 'sync.pull_refused')?.details).toMatch(
      /users are managed at the station/,
    );
    expect(JSON.stringify(actions)).not.toMatch(/Núñez|María|1985/);

    const status = readSyncStatus(st.db);
    expect(status).toMatchObject({ enrolled: true, waiting: 0, auditWaiting: 0, lastError: null });
    expect(checkIssuanceAllowed(st.db)).toMatchObject({ ok: true, enrolled: true });

    // A repeated cycle changes nothing at the central office.
    const before = await centralRecords(c.central);
    await service.runOnce();
    expect(await centralRecords(c.central)).toEqual(before);
    expect(listQueue(st.db, st.users.supervisor)).toHaveLength(1);
  }, 60_000);

  it('reports a revoked station clearly and keeps its records waiting', async () => {
    s.issue(1000);
    await c.central.adminApi.revokeStation(TEST_STATION);
    const service = s.service();
    const changes: string[] = [];
    service.on('connection', (x) => changes.push(x.connection));
    const err = await service.runOnce().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncRemoteError);
    expect((err as SyncRemoteError).code).toBe('REVOKED_STATION');
    const status = service.status();
    expect(status.connection).toBe('refused');
    expect(changes).toEqual(['refused']);
    expect(status.lastError).toMatch(
      /revoked this station: ask its admin for a new enrolment code/,
    );
    expect(status.waiting).toBe(1);
  }, 30_000);
});
