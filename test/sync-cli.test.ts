/**
 * `station sync enrol|status|run` end to end on a development station seeded by
 * `station dev seed`, against a real central office (PGlite): the README's demo.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEV_PIN, SEED_STATION } from '../simulator/seed.ts';
import { forgetSyncKeys } from '../station/sync/index.ts';
import { DEV_SYNC_KEY_FILE } from '../station/sync/sync-key.ts';
import { runCli } from './helpers/cli.ts';
import { DEV_ENV } from './intake-support.ts';
import { centralRecords, startTestCentral, type CentralUnderTest } from './sync-support.ts';

const root = mkdtempSync(join(tmpdir(), 'sync-cli-'));
const dataDir = join(root, 'data');
const saved = { ...process.env };
const cli = (...args: string[]) => runCli(['--data-dir', dataDir, ...args]);
let c: CentralUnderTest;

beforeAll(async () => {
  Object.assign(process.env, DEV_ENV, { STATION_PIN: DEV_PIN });
  const seed = await cli('dev', 'seed', '--scenario', 'foreign-loan');
  expect(seed.code, seed.stderr).toBe(0);
  c = await startTestCentral();
}, 60_000);
afterAll(async () => {
  forgetSyncKeys();
  await c?.close();
  for (const k of ['STATION_MODE', 'STATION_DEV_KEYS_PASSPHRASE', 'STATION_PIN'] as const) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  rmSync(root, { recursive: true, force: true });
});

it('enrols with a one-time code, reports its state, and delivers the outbox', async () => {
  const before = await cli('sync', 'status');
  expect(before.stdout).toMatch(/not enrolled with a central office/);
  expect(before.stdout).toMatch(/issuance: allowed/);

  const { code } = await c.central.adminApi.issueEnrolCode(SEED_STATION);
  const wrong = await cli(
    'sync',
    'enrol',
    '--url',
    c.central.url,
    '--code',
    'AAAA-BBBB-CCCC-DDDD',
    '--supervisor',
    'supervisor',
    '--user',
    'admin',
  );
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toMatch(
    /enrolment code is unknown, used, expired or issued for another station/,
  );
  expect(wrong.stderr).not.toContain('AAAA-BBBB-CCCC-DDDD');
  const notAdmin = await cli(
    'sync',
    'enrol',
    '--url',
    c.central.url,
    '--code',
    code,
    '--supervisor',
    'supervisor',
    '--user',
    'operator',
  );
  expect(notAdmin.code).toBe(1);

  const enrol = await cli(
    'sync',
    'enrol',
    '--url',
    c.central.url,
    '--code',
    code,
    '--supervisor',
    'supervisor',
    '--user',
    'admin',
  );
  expect(enrol.stderr).toBe('');
  expect(enrol.stdout).toMatch(
    new RegExp(
      `station ${SEED_STATION} enrolled with ${c.central.url}; sync key [0-9a-f]{64} \\(dev-file\\)`,
    ),
  );
  // The sync key is in custody (encrypted), never in the database or the audit log.
  expect(readFileSync(join(dataDir, DEV_SYNC_KEY_FILE), 'utf8')).not.toMatch(/PRIVATE KEY/);
  const audit = await cli('audit', 'list', '--json');
  const entries = JSON.parse(audit.stdout) as { action: string; details: unknown }[];
  expect(entries.find((e) => e.action === 'sync.enrolled')).toBeTruthy();
  expect(audit.stdout).not.toContain(code);

  const waiting = await cli('sync', 'status', '--json');
  const w = JSON.parse(waiting.stdout) as {
    waiting: number;
    issuance: { ok: boolean; limit?: string };
  };
  expect(w.issuance).toMatchObject({ ok: false, limit: 'no_allowance' });

  const run = await cli('sync', 'run', '--once');
  expect(run.code, run.stderr).toBe(0);
  expect(run.stdout).toMatch(/sync: online .*0 record\(s\) waiting/);
  const after = await cli('sync', 'status');
  expect(after.stdout).toMatch(
    /issuance: allowed \(offline allowance left: 72\.0 h, 500 issuances\)/,
  );
  expect((await centralRecords(c.central, SEED_STATION)).length).toBe(w.waiting);
  expect(await c.central.adminApi.auditFlags(SEED_STATION)).toEqual([]);
}, 60_000);
