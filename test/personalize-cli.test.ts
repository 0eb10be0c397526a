/**
 * `station personalize` headless and `personalize [n]` in the `station start` console, as
 * separate processes over the simulator's serial port: the same job code, one line (or JSON
 * object) per job, no personal data in what they print.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../simulator/index.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { stationProcess } from './helpers/station-process.ts';
import { DEV_ENV } from './intake-support.ts';
import { seedPersoStation, type PersoStation } from './perso-support.ts';

let ps: PersoStation;
let sim: RunningSimulator;

beforeAll(async () => {
  ps = await seedPersoStation();
  ps.station.lock.release();
  sim = await startSimulator({
    hopper: {
      version: 1,
      booklets: ['PA3000031', 'PA3000032', 'PT3000002'].map((s) => ps.booklet(s)),
    },
  });
}, 60_000);
afterAll(async () => {
  await sim?.close();
  await ps?.close();
});

const env = { ...DEV_ENV, STATION_PIN: DEV_PIN };

describe('station personalize and test-job', () => {
  it('personalizes the next application headless, as JSON; a technician runs a dry run', async () => {
    const p = stationProcess(
      [
        '--data-dir',
        ps.station.dataDir,
        'personalize',
        '--port',
        sim.stationPath,
        '--user',
        'operator',
        '--next',
        '--json',
      ],
      { env },
    );
    expect(await p.exited, p.stderr).toBe(0);
    const o = JSON.parse(p.stdout.trim()) as Record<string, unknown>;
    expect(o).toMatchObject({
      outcome: 'issued',
      serial: 'PA3000031',
      documentNumber: 'PA3000031',
    });
    // No personal data: no names or dates of birth in what the command printed.
    expect(p.stdout).not.toMatch(/QUISPE|GARCIA|19\d\d-/);

    const refused = stationProcess(
      [
        '--data-dir',
        ps.station.dataDir,
        'personalize',
        '--port',
        sim.stationPath,
        '--user',
        'technician',
      ],
      { env },
    );
    expect(await refused.exited).not.toBe(0);

    const t = stationProcess(
      [
        '--data-dir',
        ps.station.dataDir,
        'test-job',
        'encoder-self-test',
        '--port',
        sim.stationPath,
        '--user',
        'technician',
      ],
      { env },
    );
    expect(await t.exited, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^encoder self-test: passed \(result \d+\)$/m);
  }, 60_000);

  it('personalize [n] in the station start console', async () => {
    {
      const p = stationProcess(
        [
          '--data-dir',
          ps.station.dataDir,
          'start',
          '--dev',
          '--port',
          sim.stationPath,
          '--user',
          'operator',
        ],
        { env },
      );
      await p.waitFor(/type "help" for the commands/);
      p.send('personalize 1');
      await p.waitFor(/^job \d+: application \d+ issued as PA3000032 /m);
      p.send('quit');
      expect(await p.exited, p.stderr).toBe(0);
    }
  }, 60_000);
});
