/**
 * The limit on guessing enrolment codes at the central office (central/enrol-limit.ts,
 * docs/sync.md "Enrolment"), on PGlite and on a throwaway PostgreSQL cluster: a station id is
 * locked after too many wrong codes (even for the right one), so is a source address across
 * station ids; the lock survives a restart, lifts as the failures age out or when the admin
 * issues a new code; concurrent guesses do not slip past it; failures are logged without the
 * code that was tried.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_PROTOCOL, signRequest } from '../contracts/sync.ts';
import { startCentral, type RunningCentral } from '../central/start.ts';
import { auditKeyOf } from '../station/audit.ts';
import { auditPublicKeyPem } from '../station/keys/audit-key.ts';
import {
  createMemorySyncKey,
  enrolStation,
  explainRemoteError,
  readSyncConfig,
  SyncRemoteError,
} from '../station/sync/index.ts';
import { createTestStation, TEST_STATION } from '../station/testing.ts';
import { httpFetch } from './helpers/fault-proxy.ts';
import { startTestPostgres, type TestPostgres } from './helpers/postgres.ts';

const pemOf = (k: KeyObject) =>
  createPublicKey(k).export({ type: 'spki', format: 'pem' }).toString();
let counter = 0;
const newId = (p: string) => `${p}-${process.pid % 1000}-${++counter}`;
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** A well-formed code nobody issued. */
function guess(): string {
  const b = randomBytes(16);
  const s = [...b].map((x) => ALPHABET[x % 32]).join('');
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}-${s.slice(12)}`;
}

describe.each(['pglite', 'postgres'] as const)('enrolment-code guessing on %s', (backend) => {
  let pg: TestPostgres | undefined;
  let central: RunningCentral;
  let dataDir: string;
  let logs = '';
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  const start = async () =>
    startCentral({
      dataDir,
      databaseUrl: pg?.url,
      now,
      logger: {
        level: 'info',
        stream: new Writable({
          write(chunk: Buffer, _enc, done) {
            logs += chunk.toString();
            done();
          },
        }),
      },
    });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'central-limit-'));
    if (backend === 'postgres') pg = await startTestPostgres();
    central = await start();
  }, 60_000);
  afterAll(async () => {
    await central?.close();
    await pg?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** One enrolment attempt, signed with a fresh key, from `remoteAddress`. */
  async function attempt(stationId: string, code: string, remoteAddress = '127.0.0.1') {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const audit = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const body = JSON.stringify({
      protocol: SYNC_PROTOCOL,
      stationId,
      code,
      publicKey: pemOf(key),
      auditPublicKey: pemOf(audit),
    });
    const headers = signRequest({
      privateKey: key,
      stationId,
      method: 'POST',
      path: '/v1/enrol',
      body,
      nonce: randomBytes(16).toString('base64url'),
      at: now(),
    });
    const res = await central.app.inject({
      method: 'POST',
      url: '/v1/enrol',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: body,
      remoteAddress,
    });
    return {
      status: res.statusCode,
      retryAfter: res.headers['retry-after'],
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read loosely
      json: res.json() as Record<string, any>,
    };
  }

  const codeUsed = async (stationId: string) =>
    (
      await central.adminApi.pool.query<{ used: boolean }>(
        'SELECT used_at IS NOT NULL AS used FROM enrol_codes WHERE station_id = $1',
        [stationId],
      )
    ).rows.map((r) => r.used);

  it('locks a station id after 5 wrong codes, even for the right one, across a restart; logs no code; a new code lifts it', async () => {
    const id = newId('LK');
    const { code } = await central.adminApi.issueEnrolCode(id, now());
    const tried: string[] = [];
    for (let i = 0; i < 5; i++) {
      const g = guess();
      tried.push(g);
      const r = await attempt(id, g);
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe('ENROL_CODE_INVALID');
    }
    const locked = await attempt(id, code);
    expect(locked.status).toBe(429);
    expect(locked.json.error.code).toBe('ENROL_RATE_LIMITED');
    expect(locked.json.error.message).toMatch(
      new RegExp(
        `^enrolment is refused for now: 5 wrong enrolment codes were tried for station ${id} in the last 15 minutes; try again in 15 minutes, or ask the central office admin for a new code$`,
      ),
    );
    expect(locked.json.error.retryAfterSeconds).toBeGreaterThan(14 * 60);
    expect(Number(locked.retryAfter)).toBe(locked.json.error.retryAfterSeconds);
    // The right code was not spent by the refused attempt.
    expect(await codeUsed(id)).toEqual([false]);

    // What is kept and logged names the station and the address, never a code tried.
    const rows = await central.adminApi.pool.query('SELECT * FROM enrol_failures');
    expect(rows.rows.filter((r: { station_id: string }) => r.station_id === id)).toHaveLength(5);
    const kept = JSON.stringify(rows.rows);
    const lines = logs.split('\n').filter((l) => l.includes(id));
    expect(lines.filter((l) => l.includes('"msg":"enrolment code refused"'))).toHaveLength(5);
    expect(lines.filter((l) => l.includes('"failures":5'))).toHaveLength(1);
    expect(lines.some((l) => l.includes('enrolment refused: too many wrong codes'))).toBe(true);
    for (const secret of [...tried, code]) {
      expect(logs).not.toContain(secret);
      expect(kept).not.toContain(secret);
    }

    // A restart does not forget the failures.
    await central.close();
    central = await start();
    expect((await attempt(id, code)).json.error.code).toBe('ENROL_RATE_LIMITED');

    // The admin issues a new code: the lock is lifted, and the new code enrols.
    const fresh = await central.adminApi.issueEnrolCode(id, now());
    const ok = await attempt(id, fresh.code);
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
  }, 60_000);

  it('lifts the lock once the failures are older than the window', async () => {
    const id = newId('AG');
    const { code } = await central.adminApi.issueEnrolCode(id, now());
    for (let i = 0; i < 5; i++) expect((await attempt(id, guess())).status).toBe(403);
    expect((await attempt(id, code)).status).toBe(429);
    offsetMs += 14 * 60_000;
    expect((await attempt(id, code)).status).toBe(429);
    offsetMs += 61_000;
    const ok = await attempt(id, code);
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
  }, 60_000);

  it('locks a source address after its limit of wrong codes across station ids, not another address', async () => {
    await central.adminApi.updateSettings({ enrolMaxFailuresPerSource: 3, enrolLockoutMinutes: 5 });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await attempt(newId('SP'), guess(), '10.0.0.7');
        expect(r.json.error.code).toBe('ENROL_CODE_INVALID');
      }
      const id = newId('SP');
      const { code } = await central.adminApi.issueEnrolCode(id, now());
      const locked = await attempt(id, code, '10.0.0.7');
      expect(locked.status).toBe(429);
      expect(locked.json.error.message).toMatch(
        /3 wrong enrolment codes came from this address in the last 5 minutes; try again in 5 minutes/,
      );
      expect(logs).toMatch(/"source":"10\.0\.0\.7"/);
      const elsewhere = await attempt(id, code, '10.0.0.8');
      expect(elsewhere.status, JSON.stringify(elsewhere.json)).toBe(200);
    } finally {
      await central.adminApi.updateSettings({
        enrolMaxFailuresPerSource: 20,
        enrolLockoutMinutes: 15,
      });
    }
  }, 60_000);

  it('lets no more than the limit of concurrent guesses through', async () => {
    const id = newId('CC');
    const answers = await Promise.all(Array.from({ length: 12 }, () => attempt(id, guess())));
    const codes = answers.map((a) => a.json.error.code as string);
    expect(codes.filter((c) => c === 'ENROL_CODE_INVALID')).toHaveLength(5);
    expect(codes.filter((c) => c === 'ENROL_RATE_LIMITED')).toHaveLength(7);
  }, 60_000);

  it('a station told to wait says so in its words, and stores nothing', async () => {
    offsetMs = 0;
    const st = createTestStation();
    try {
      const { code } = await central.adminApi.issueEnrolCode(TEST_STATION, now());
      for (let i = 0; i < 5; i++) await attempt(TEST_STATION, guess());
      const e = await enrolStation(st.db, st.users.admin, {
        url: central.url,
        code,
        key: createMemorySyncKey(TEST_STATION),
        auditPublicKeyPem: auditPublicKeyPem(auditKeyOf(st.db)),
        supervisor: st.users.supervisor.username,
        fetch: httpFetch,
        now,
      }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SyncRemoteError);
      expect((e as SyncRemoteError).status).toBe(429);
      expect(explainRemoteError(e as SyncRemoteError)).toMatch(
        /^the central office refuses enrolment for now after too many wrong enrolment codes: wait, or ask its admin for a new code \(which lifts the lock\) \(ENROL_RATE_LIMITED: enrolment is refused for now: 5 wrong enrolment codes were tried for station LIM-AIR-01/,
      );
      expect(readSyncConfig(st.db)).toBeUndefined();
    } finally {
      st.close();
    }
  }, 60_000);
});
