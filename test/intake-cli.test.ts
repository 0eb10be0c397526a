/**
 * `station intake` as an operator reads it: one line per booklet in the chosen language,
 * `--count` taking exactly that many booklets, and a refusal whose booklet did not reach the
 * reject tray stopping the run (no further booklet fed) with a non-zero exit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupBooklet } from '../station/booklets.ts';
import { openStationDb } from '../station/identity.ts';
import { startSimulator, type RunningSimulator } from '../simulator/index.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { DEV_ENV } from './intake-support.ts';
import { runCli } from './helpers/cli.ts';

let dataDir: string;
let sim: RunningSimulator;

beforeAll(async () => {
  Object.assign(process.env, DEV_ENV, { STATION_PIN: DEV_PIN });
  dataDir = mkdtempSync(join(tmpdir(), 'intake-cli-'));
  const seeded = await runCli(['--data-dir', dataDir, 'dev', 'seed', '--scenario', 'foreign-loan']);
  expect(seeded.code).toBe(0);
  sim = await startSimulator({ scenario: 'foreign-loan' });
});

afterAll(async () => {
  await sim?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const intake = (...args: string[]): ReturnType<typeof runCli> =>
  runCli([
    '--data-dir',
    dataDir,
    'intake',
    '--port',
    sim.stationPath,
    '--user',
    'operator',
    ...args,
  ]);

describe('station intake', () => {
  it('takes exactly --count booklets and prints one line each in the operator language', async () => {
    const before = sim.hopper.length;
    const r = await intake('--count', '2', '--lang', 'en');
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(2);
    expect(r.out[0]).toMatch(/^PA0100001 accepted \(job \d+\)$/);
    expect(r.out[1]).toBe(
      'PR0500001 refused FOREIGN_AGENCY: This booklet belongs to another agency (PER-RREE). ' +
        'Put it aside for your supervisor. It must not be used here.',
    );
    expect(r.stderr).toBe('1 accepted, 1 refused');
    expect(sim.hopper).toHaveLength(before - 2);

    // Spanish is the default language.
    const es = await intake('--count', '2');
    expect(es.code).toBe(0);
    expect(es.out[0]).toMatch(/^PA0100002 accepted \(job \d+\)$/);
    expect(es.out[1]).toMatch(
      /^PR0500002 refused FOREIGN_AGENCY: Esta libreta pertenece a otra entidad \(PER-RREE\)\./,
    );
  });

  it('refuses a bad --count or --lang before touching a booklet', async () => {
    const before = sim.hopper.length;
    for (const args of [
      ['--count', '0'],
      ['--count', '1.5'],
      ['--count', 'many'],
      ['--lang', 'fr'],
    ]) {
      const r = await intake(...args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(
        args[0] === '--lang'
          ? /--lang must be one of es, en/
          : /--count must be a positive whole number/,
      );
    }
    expect(sim.hopper).toHaveLength(before);
  });

  it('stops when a refused booklet does not reach the reject tray, and says what to do', async () => {
    // Next in the hopper: the forgery PA0100003, then PR0500003 (foreign).
    const before = sim.hopper.length;
    sim.inject('reject-tray-full');
    const r = await intake('--count', '5', '--lang', 'en');
    expect(r.out).toHaveLength(1);
    expect(r.out[0]).toMatch(
      /^PA0100003 refused TRANSPORT_AUTH_FAILED: .*did not reach the reject tray/,
    );
    expect(r.out[0]).toMatch(/Take it out of the printer by hand/);
    expect(r.stderr).toMatch(/intake stopped: a refused booklet did not reach the reject tray/);
    expect(r.code).toBe(1);
    // No further booklet was fed while the refused one was stuck in the printer.
    expect(sim.hopper).toHaveLength(before - 1);
    const db = openStationDb(dataDir);
    try {
      const refusal = db
        .prepare('SELECT reason FROM refusals WHERE printed_serial = ?')
        .pluck()
        .get('PA0100003');
      expect(refusal).toBe('TRANSPORT_AUTH_FAILED');
      expect(lookupBooklet(db, 'PA0100003')!.state).toBe('refused');
      expect(
        db
          .prepare('SELECT count(*) FROM refusals WHERE printed_serial = ?')
          .pluck()
          .get('PR0500003'),
      ).toBe(0);
    } finally {
      db.close();
    }
  });
});
