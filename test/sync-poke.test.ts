/**
 * The sync loop's poke (the station core pokes it after each intake run and personalization):
 * a record queued while a cycle is already past its push is delivered right after that cycle,
 * not an interval later. Real central office (PGlite), real station.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PULL_PATH, type FetchLike } from '../station/sync/index.ts';
import { httpFetch } from './helpers/fault-proxy.ts';
import {
  centralRecords,
  enrolledStation,
  startTestCentral,
  type CentralUnderTest,
  type SyncStation,
} from './sync-support.ts';

let c: CentralUnderTest;
let s: SyncStation;
beforeAll(async () => {
  c = await startTestCentral();
  s = await enrolledStation(c.central, c.central.url);
}, 60_000);
afterAll(async () => {
  await s?.close();
  await c?.close();
});

it('a poke during a cycle starts the next cycle as soon as it ends', async () => {
  let pulling: () => void = () => undefined;
  const inPull = new Promise<void>((r) => (pulling = r));
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  let first = true;
  // The first pull waits at the gate: the cycle has pushed everything and not yet ended.
  const gated: FetchLike = async (url, init) => {
    if (first && url.endsWith(PULL_PATH)) {
      first = false;
      pulling();
      await gate;
    }
    return httpFetch(url, init);
  };
  const service = s.service({ fetch: gated, intervalMs: 600_000 });
  service.start();
  try {
    await inPull;
    s.issue(1);
    service.poke();
    release();
    await expect
      .poll(async () => (await centralRecords(c.central)).length, { timeout: 10_000 })
      .toBe(1);
  } finally {
    await service.stop();
  }
}, 30_000);
