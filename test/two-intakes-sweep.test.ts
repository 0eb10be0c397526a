/**
 * Two `station intake` processes on one data directory, the second started at every offset of
 * a sweep after the first, each on its own simulator with booklets of the every-refusal
 * scenario (a forged chip, a foreign one, serials that disagree or are unknown: all refused). Whatever the timing, no refusal is lost: each process either
 * runs to its end or is refused at once with a message naming the other; every booklet a
 * process took is decided, each refusal has its refusal row, its outbox record and its booklet
 * in the reject tray; nothing is left running, interrupted or in process; reconciliation
 * balances.
 *
 * `npm run soak` runs a longer sweep (STATION_SOAK=1: finer steps, several rounds; tune with
 * STATION_SOAK_ROUNDS, STATION_SOAK_MAX_MS, STATION_SOAK_STEP_MS) and prints its figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getStationIdentity, openStationDb } from '../station/identity.ts';
import { reconcileDay } from '../station/reconcile.ts';
import { dayOf } from '../station/time.ts';
import {
  loadScenario,
  startSimulator,
  type HopperFile,
  type RunningSimulator,
} from '../simulator/index.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { DEV_ENV } from './intake-support.ts';
import { runCli } from './helpers/cli.ts';
import { lockedMessage, stationProcess, type StationProcess } from './helpers/station-process.ts';

const SOAK = process.env.STATION_SOAK === '1';
const num = (name: string, fallback: number): number => {
  const v = process.env[name];
  return v === undefined ? fallback : Number(v);
};
const ROUNDS = SOAK ? num('STATION_SOAK_ROUNDS', 3) : 1;
const MAX_MS = SOAK ? num('STATION_SOAK_MAX_MS', 2000) : 1200;
const STEP_MS = SOAK ? num('STATION_SOAK_STEP_MS', 50) : 200;

const env = { ...DEV_ENV, STATION_PIN: DEV_PIN };
let tmp: string;
let dataDir: string;
let expected: { printedSerial: string; decision: string }[];
let hopper: HopperFile;

/**
 * The hopper of each run: the every-refusal booklets whose refusal needs the most checks (a
 * forged chip, a foreign one, serials that disagree or are unknown) between two good ones,
 * kept short so that a run stays quick.
 */
const PICK = [
  'PA0200001',
  'PA0200906',
  'PA0200007',
  'PA0200008',
  'PA0200009',
  'PA0200018',
  'PA0200019',
];

beforeAll(async () => {
  Object.assign(process.env, env);
  tmp = mkdtempSync(join(tmpdir(), 'two-intakes-'));
  dataDir = join(tmp, 'station');
  const seeded = await runCli([
    '--data-dir',
    dataDir,
    'dev',
    'seed',
    '--scenario',
    'every-refusal',
  ]);
  expect(seeded.code).toBe(0);
  const scenario = await loadScenario('every-refusal');
  const all = scenario.expected!();
  expected = PICK.map((serial) => all.find((e) => e.printedSerial === serial)!);
  const booklets = scenario.hopper().booklets;
  hopper = {
    version: 1,
    booklets: PICK.map((serial) => booklets.find((b) => b.printedSerial === serial)!),
  };
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Figures {
  runs: number;
  secondRefused: number;
  bothRan: number;
  refusalsRecorded: number;
  lostRefusals: number;
}

function intake(sim: RunningSimulator): StationProcess {
  return stationProcess(
    [
      '--data-dir',
      dataDir,
      'intake',
      '--port',
      sim.stationPath,
      '--user',
      'operator',
      '--count',
      String(expected.length),
      '--json',
    ],
    { env, stdin: '', killAfterMs: 60_000 },
  );
}

/** One run: A, then B `offset` ms later; checks everything and adds to the figures. */
async function runPair(offset: number, figures: Figures): Promise<void> {
  const db = openStationDb(dataDir);
  const sims = [
    await startSimulator({ scenario: 'every-refusal', hopper }),
    await startSimulator({ scenario: 'every-refusal', hopper }),
  ];
  try {
    const lastJob = db
      .prepare('SELECT coalesce(max(id), 0) FROM intake_jobs')
      .pluck()
      .get() as number;
    const a = intake(sims[0]!);
    await new Promise((r) => setTimeout(r, offset));
    const b = intake(sims[1]!);
    const codes = await Promise.all([a.exited, b.exited]);
    const procs = [a, b];
    const ran: number[] = [];
    procs.forEach((p, i) => {
      const other = procs[1 - i]!;
      const what = { offset, process: i === 0 ? 'A' : 'B', code: codes[i], stderr: p.stderr };
      if (codes[i] === 0) ran.push(i);
      else {
        // The only way not to run: refused at once, naming the other process, having touched
        // neither the device nor the database.
        expect(what).toMatchObject({
          code: 1,
          stderr: expect.stringMatching(lockedMessage(other.pid)),
        });
        expect(p.stdout).toBe('');
        expect(sims[i]!.hopper).toHaveLength(expected.length);
      }
    });
    expect({ offset, ran: ran.length }).toEqual({ offset, ran: expect.any(Number) });
    expect(ran.length).toBeGreaterThan(0);
    if (ran.length === 1) figures.secondRefused++;
    else figures.bothRan++;

    const refusedExpected = expected.filter((e) => e.decision !== 'accepted').length;
    for (const i of ran) {
      // Every booklet taken, each decided as the scenario says, refused ones in the reject tray.
      expect(sims[i]!.hopper).toHaveLength(0);
      const decisions = procs[i]!.stdout.trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { decision: string; reason?: string });
      expect(decisions.map((d) => d.reason ?? d.decision)).toEqual(
        expected.map((e) =>
          // A booklet of ours refused once is no longer available the next time round.
          e.decision === 'accepted' ? 'accepted' : expect.any(String),
        ),
      );
      expect(sims[i]!.rejectTray).toHaveLength(refusedExpected);
      expect(sims[i]!.outputTray).toHaveLength(expected.length - refusedExpected);
    }

    const jobs = db
      .prepare('SELECT id, status FROM intake_jobs WHERE id > ? ORDER BY id')
      .all(lastJob) as { id: number; status: string }[];
    expect({
      offset,
      unfinished: jobs.filter((j) => !['refused', 'released'].includes(j.status)),
    }).toEqual({
      offset,
      unfinished: [],
    });
    const refused = jobs.filter((j) => j.status === 'refused');
    expect(refused).toHaveLength(refusedExpected * ran.length);
    const { stationId, timeZone } = getStationIdentity(db);
    let lost = 0;
    for (const j of refused) {
      const row = db.prepare('SELECT count(*) FROM refusals WHERE job_id = ?').pluck().get(j.id);
      const queued = db
        .prepare('SELECT count(*) FROM outbox WHERE idempotency_key = ?')
        .pluck()
        .get(`${stationId}/intake/${j.id}/refusal`);
      if (row !== 1 || queued !== 1) lost++;
    }
    figures.lostRefusals += lost;
    figures.refusalsRecorded += refused.length - lost;
    expect({ offset, lost }).toEqual({ offset, lost: 0 });
    expect(
      db.prepare(`SELECT count(*) FROM booklets WHERE state = 'in_process'`).pluck().get(),
    ).toBe(0);
    const r = reconcileDay(db, dayOf(new Date(), timeZone));
    expect({ offset, balanced: r.balanced, discrepancies: r.discrepancies }).toEqual({
      offset,
      balanced: true,
      discrepancies: [],
    });
    figures.runs++;
  } finally {
    db.close();
    await Promise.all(sims.map((s) => s.close()));
  }
}

describe('two intake processes on one data directory', () => {
  it(
    `never lose a refusal, the second started 0..${MAX_MS} ms after the first in ${STEP_MS} ms steps (${ROUNDS} round${ROUNDS > 1 ? 's' : ''})`,
    async () => {
      const figures: Figures = {
        runs: 0,
        secondRefused: 0,
        bothRan: 0,
        refusalsRecorded: 0,
        lostRefusals: 0,
      };
      const started = Date.now();
      for (let round = 0; round < ROUNDS; round++)
        for (let offset = 0; offset <= MAX_MS; offset += STEP_MS) await runPair(offset, figures);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        `two-intakes sweep: ${figures.runs} pairs (offsets 0..${MAX_MS} ms, step ${STEP_MS} ms, ${ROUNDS} round(s)) in ${seconds} s; ` +
          `second refused ${figures.secondRefused}, both ran one after the other ${figures.bothRan}; ` +
          `refusals recorded ${figures.refusalsRecorded}, lost ${figures.lostRefusals}`,
      );
      expect(figures.lostRefusals).toBe(0);
    },
    SOAK ? 3_600_000 : 120_000,
  );
});
