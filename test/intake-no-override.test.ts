/**
 * No check of intake can be left out: for each check, the `single-fault` scenario has a
 * booklet that fails that check and would pass every other one (ours, allocated here, an
 * accepted profile, genuine keys...), so that taking the check away lets the booklet through
 * and this test goes red. Every public way to run intake is tried: the library
 * (`intakeNextBooklet`), `station intake` and the `station start` console. Each refuses the
 * same booklets for the same reasons, records each refusal, and accepts the two controls.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setChipProfileAccepted } from '../station/agencies.ts';
import { lookupBooklet } from '../station/booklets.ts';
import {
  intakeNextBooklet,
  releaseAccepted,
  type IntakeOutcome,
} from '../station/intake/intake.ts';
import { openStationCustody } from '../station/keys/station-custody.ts';
import { openStationDb } from '../station/identity.ts';
import { REFUSAL_REASONS } from '../station/intake/reasons.ts';
import { SIM_AGENCY, startSimulator } from '../simulator/index.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { singleFaultEach, WITHDRAWN_PROFILE } from '../simulator/scenarios/single-fault.ts';
import { runCli } from './helpers/cli.ts';
import {
  connectStation,
  DEV_ENV,
  seedScenarioStation,
  type SeededStation,
} from './intake-support.ts';

const SCENARIO = 'single-fault';
const cases = singleFaultEach();
const expected = cases.map((c) => ({
  printedSerial: c.entry.booklet.printedSerial,
  decision: c.decision,
}));
/** What each entry point must report: the serial as read (none when unreadable) and the verdict. */
const expectedSeen = cases.map((c) => ({
  serial: c.decision === 'SERIAL_UNREADABLE' ? '(unreadable)' : c.entry.booklet.printedSerial,
  decision: c.decision,
}));

let station: SeededStation | undefined;
afterEach(() => {
  station?.cleanup();
  station = undefined;
});

beforeAll(() => {
  Object.assign(process.env, DEV_ENV, { STATION_PIN: DEV_PIN });
});

/** A fresh station for the scenario, with the one ledger change its seed cannot express. */
async function prepare(): Promise<SeededStation> {
  const s = await seedScenarioStation(SCENARIO);
  setChipProfileAccepted(s.db, s.actor('admin'), SIM_AGENCY, WITHDRAWN_PROFILE, false);
  return s;
}

/** The refusals the station recorded, in order. */
function recordedRefusals(dataDir: string): { serial: string | null; reason: string }[] {
  const db = openStationDb(dataDir);
  try {
    return db
      .prepare('SELECT printed_serial AS serial, reason FROM refusals ORDER BY id')
      .all() as { serial: string | null; reason: string }[];
  } finally {
    db.close();
  }
}

/** The refusals, accepted controls and ledger the station must show after the run. */
function expectRecorded(dataDir: string): void {
  expect(recordedRefusals(dataDir)).toEqual(
    cases
      .filter((c) => c.decision !== 'accepted')
      .map((c) => ({
        serial: c.decision === 'SERIAL_UNREADABLE' ? null : c.entry.booklet.printedSerial,
        reason: c.decision,
      })),
  );
  const db = openStationDb(dataDir);
  try {
    // The accepted controls were released blank; nothing is left in process.
    for (const c of cases.filter((x) => x.decision === 'accepted'))
      expect(lookupBooklet(db, c.entry.booklet.printedSerial)!.state).toBe('allocated');
    expect(
      db.prepare(`SELECT count(*) FROM booklets WHERE state = 'in_process'`).pluck().get(),
    ).toBe(0);
  } finally {
    db.close();
  }
}

describe('the single-fault scenario', () => {
  it('has a booklet for every refusal reason and two accepted controls', () => {
    expect(new Set(cases.map((c) => c.decision))).toEqual(
      new Set(['accepted', ...REFUSAL_REASONS]),
    );
    expect(cases.filter((c) => c.decision === 'accepted')).toHaveLength(2);
  });
});

describe('every check, through every entry point, refuses the booklet that fails only it', () => {
  it('the library: intakeNextBooklet', async () => {
    station = await prepare();
    const custody = await openStationCustody(station.dataDir);
    const sim = await startSimulator({ scenario: SCENARIO });
    const dev = await connectStation(sim.stationPath);
    const outcomes: IntakeOutcome[] = [];
    try {
      const opts = {
        db: station.db,
        actor: station.actor('operator'),
        custody,
        printer: dev.printer,
        encoder: dev.encoder,
      };
      while (sim.hopper.length > 0) {
        const o = await intakeNextBooklet(opts);
        if (o.decision === 'accepted') await releaseAccepted(opts, o);
        outcomes.push(o);
      }
      expect(sim.outputTray.map((b) => b.booklet.printedSerial)).toEqual(
        expected.filter((e) => e.decision === 'accepted').map((e) => e.printedSerial),
      );
      expect(sim.rejectTray).toHaveLength(cases.length - 2);
    } finally {
      await dev.close();
      await sim.close();
      await custody.close();
    }
    expect(
      outcomes.map((o) => ({
        serial: o.facts.printedSerial ?? '(unreadable)',
        decision: o.decision === 'accepted' ? 'accepted' : o.reason,
      })),
    ).toEqual(expectedSeen);
    station.db.close();
    expectRecorded(station.dataDir);
  });

  it('the command line: station intake', async () => {
    station = await prepare();
    station.db.close();
    const sim = await startSimulator({ scenario: SCENARIO });
    let run: Awaited<ReturnType<typeof runCli>>;
    try {
      run = await runCli([
        '--data-dir',
        station.dataDir,
        'intake',
        '--port',
        sim.stationPath,
        '--user',
        'operator',
        '--count',
        String(cases.length),
        '--json',
      ]);
    } finally {
      await sim.close();
    }
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const seen = run.out.map((l) => {
      const o = JSON.parse(l) as IntakeOutcome;
      return {
        serial: o.facts.printedSerial ?? '(unreadable)',
        decision: o.decision === 'accepted' ? 'accepted' : o.reason,
      };
    });
    expect(seen).toEqual(expectedSeen);
    expectRecorded(station.dataDir);
  });

  it('the console: station start, then intake', async () => {
    station = await prepare();
    station.db.close();
    station.lock.release(); // the console is its own station process: it takes the lock
    const r = await startConsole(station.dataDir, `intake ${cases.length}\nquit\n`);
    expect(r.code).toBe(0);
    const seen = r.stdout
      .split('\n')
      .map((l) => /^(PA\d{7}|\(unreadable\)) (?:accepted \(job \d+\)|refused (\w+): .*)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => ({ serial: m[1], decision: m[2] ?? 'accepted' }));
    expect(seen).toEqual(expectedSeen);
    expect(r.stdout).toContain(`2 accepted, ${cases.length - 2} refused`);
    expectRecorded(station.dataDir);
  });
});

/** Runs `station start` on the prepared (development) data directory with the scenario. */
function startConsole(
  dataDir: string,
  stdin: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const bin = join(import.meta.dirname, '..', 'bin', 'station.mjs');
  const child = spawn(
    process.execPath,
    [bin, '--data-dir', dataDir, 'start', '--scenario', SCENARIO, '--lang', 'en'],
    {
      env: { ...process.env, ...DEV_ENV, STATION_PIN: DEV_PIN },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(stdin);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`station start did not exit:\n${stdout}\n${stderr}`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
