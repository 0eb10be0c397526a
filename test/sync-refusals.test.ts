/**
 * The station reports each refusal of the central office clearly, in its status, and keeps its
 * records waiting: an unknown station, a revoked one (sync-central), a replayed request, a
 * stale one (the station's clock is off), a signature by a key that is not the enrolled one,
 * and an allowance not signed by the enrolled central office key.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { SyncService } from '../station/sync/index.ts';
import { createMemorySyncKey, readSyncConfig, SyncRemoteError } from '../station/sync/index.ts';
import { writeSyncConfig } from '../station/sync/state.ts';
import { TEST_STATION } from '../station/testing.ts';
import { httpFetch } from './helpers/fault-proxy.ts';
import {
  enrolledStation,
  startTestCentral,
  type CentralUnderTest,
  type SyncStation,
} from './sync-support.ts';

let c: CentralUnderTest;
let s: SyncStation;
beforeAll(async () => {
  c = await startTestCentral();
}, 60_000);
afterAll(async () => {
  await c?.close();
});
beforeEach(async () => {
  await c.central.adminApi.pool.query('DELETE FROM nonces');
  await c.central.adminApi.pool.query('DELETE FROM records');
  await c.central.adminApi.pool.query('DELETE FROM audit_entries');
  await c.central.adminApi.pool.query('DELETE FROM audit_flags');
  await c.central.adminApi.pool.query('DELETE FROM stock_on_hand');
  await c.central.adminApi.pool.query('DELETE FROM stations');
  s = await enrolledStation(c.central, c.central.url);
  s.issue(1);
});
afterEach(async () => {
  await s.close();
});

async function refusal(service: SyncService): Promise<SyncRemoteError> {
  const e = await service.runOnce().catch((x: unknown) => x);
  expect(e).toBeInstanceOf(SyncRemoteError);
  expect(service.status().waiting).toBe(1);
  return e as SyncRemoteError;
}

it('an unknown station: enrol it', async () => {
  await c.central.adminApi.pool.query('DELETE FROM stations');
  const service = s.service();
  expect((await refusal(service)).code).toBe('UNKNOWN_STATION');
  expect(service.status()).toMatchObject({ connection: 'refused' });
  expect(service.status().lastError).toMatch(/does not know this station: enrol it/);
});

it('a stale request: the clock is off', async () => {
  const service = s.service({ now: () => new Date(Date.now() + 11 * 60_000) });
  expect((await refusal(service)).code).toBe('STALE_REQUEST');
  expect(service.status().lastError).toMatch(/clock is off by more than 5 minutes; set it right/);
});

it('a replayed request', async () => {
  // A fetch that delivers each request twice and hands the station the second answer.
  const twice = async (url: string, init: RequestInit) => {
    await httpFetch(url, init);
    return httpFetch(url, init);
  };
  const service = s.service({ fetch: twice });
  expect((await refusal(service)).code).toBe('REPLAYED_REQUEST');
  expect(service.status()).toMatchObject({ connection: 'offline' });
  expect(service.status().lastError).toMatch(/refused a replayed request/);
});

it('a signature by another key than the enrolled one', async () => {
  const service = s.service({ key: createMemorySyncKey(TEST_STATION) });
  expect((await refusal(service)).code).toBe('BAD_SIGNATURE');
  expect(service.status().lastError).toMatch(/not the enrolled one; enrol again/);
});

it('an allowance that the enrolled central office key did not sign', async () => {
  const other = createMemorySyncKey(TEST_STATION);
  const config = readSyncConfig(s.st.db);
  if (!config) throw new Error('not enrolled');
  writeSyncConfig(s.st.db, {
    ...config,
    centralKeyPem: other.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  });
  const service = s.service();
  const e = await service.runOnce().catch((x: unknown) => x);
  expect((e as Error).message).toMatch(/not signed by the central office key stored at enrolment/);
  expect(s.st.db.prepare('SELECT allowance FROM sync_state').pluck().get()).toBeNull();
});
