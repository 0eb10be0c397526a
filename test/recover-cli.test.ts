/**
 * `station recover` and recovery with real processes. A station process killed mid-intake
 * leaves its job running; while a station process is alive nobody else may recover (its jobs
 * are never touched); once it is gone, a supervisor's `station recover` settles the job from
 * the evidence, says what it decided and audits it; reconciliation flags the booklet until it
 * goes through intake again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getStationIdentity, openStationDb } from '../station/identity.ts';
import { getJob } from '../station/intake/journal.ts';
import { dayOf } from '../station/time.ts';
import { loadScenario, startSimulator, type RunningSimulator } from '../simulator/index.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { DEV_ENV } from './intake-support.ts';
import { runCli } from './helpers/cli.ts';
import { lockedMessage, stationProcess } from './helpers/station-process.ts';

const env = { ...DEV_ENV, STATION_PIN: DEV_PIN };
let tmp: string;
let dataDir: string;
let today: string;
let sim: RunningSimulator | undefined;

beforeAll(async () => {
  Object.assign(process.env, env);
  tmp = mkdtempSync(join(tmpdir(), 'recover-'));
  dataDir = join(tmp, 'station');
  const seeded = await runCli(['--data-dir', dataDir, 'dev', 'seed', '--scenario', 'foreign-loan']);
  expect(seeded.code).toBe(0);
  const db = openStationDb(dataDir);
  today = dayOf(new Date(), getStationIdentity(db).timeZone);
  db.close();
});

afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A simulator with real-world mechanics (a feed takes 1.5 s) and the given booklets. */
async function slowSimulator(...serials: string[]): Promise<RunningSimulator> {
  const all = (await loadScenario('foreign-loan')).hopper().booklets;
  return startSimulator({
    profile: 'realistic',
    hopper: { version: 1, booklets: serials.map((s) => all.find((b) => b.printedSerial === s)!) },
  });
}

/** Polls the database (read-only) until a job is running with its printed serial read. */
async function runningJob(): Promise<{ id: number; owner: string }> {
  for (let i = 0; i < 400; i++) {
    const db = openStationDb(dataDir);
    try {
      const j = db
        .prepare(
          `SELECT id, owner FROM intake_jobs WHERE status = 'running' AND printed_serial IS NOT NULL`,
        )
        .get() as { id: number; owner: string } | undefined;
      if (j) return j;
    } finally {
      db.close();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no intake job started');
}

const jobStatus = (id: number): string | undefined => {
  const db = openStationDb(dataDir);
  try {
    return getJob(db, id)?.status;
  } finally {
    db.close();
  }
};

describe('recovery', () => {
  it('never touches the job of a live process: recovery beside it is refused', async () => {
    sim = await slowSimulator('PA0100001');
    const live = stationProcess(
      [
        '--data-dir',
        dataDir,
        'intake',
        '--port',
        sim.stationPath,
        '--user',
        'operator',
        '--count',
        '1',
      ],
      { env, stdin: '' },
    );
    const job = await runningJob();
    expect(job.owner).toMatch(/^[0-9a-f-]{36}$/);
    const r = await runCli(['--data-dir', dataDir, 'recover', '--user', 'supervisor']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(lockedMessage(live.pid));
    expect(jobStatus(job.id)).toBe('running');
    // The live process finishes its booklet normally.
    expect(await live.exited).toBe(0);
    expect(live.stdout).toMatch(/^PA0100001 accepted \(job \d+\)$/m);
    expect(jobStatus(job.id)).toBe('released');
  });

  it('settles the job of a killed process, says what it decided, and is audited', async () => {
    sim = await slowSimulator('PA0100002');
    const doomed = stationProcess(
      [
        '--data-dir',
        dataDir,
        'intake',
        '--port',
        sim.stationPath,
        '--user',
        'operator',
        '--count',
        '1',
      ],
      { env, stdin: '' },
    );
    const job = await runningJob();
    doomed.child.kill('SIGKILL');
    expect(await doomed.exited).toBeNull();
    expect(jobStatus(job.id)).toBe('running');

    // Only a supervisor or an administrator.
    const operator = await runCli(['--data-dir', dataDir, 'recover', '--user', 'operator']);
    expect(operator.code).toBe(1);
    expect(operator.stderr).toMatch(/operator \(operator\) may not run recovery/);
    expect(jobStatus(job.id)).toBe('running');

    const r = await runCli(['--data-dir', dataDir, 'recover', '--user', 'supervisor']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      `job ${job.id} (PA0100002): running -> interrupted, booklet allocated: its process stopped before a verdict; the booklet was left as it was: take it through intake again`,
      'recovered 1 interrupted and 0 released intake jobs',
    ]);
    expect(jobStatus(job.id)).toBe('interrupted');
    const audit = await runCli(['--data-dir', dataDir, 'audit', 'list', '--json']);
    const last = (
      JSON.parse(audit.stdout) as { action: string; actor: string; details: unknown }[]
    ).at(-1)!;
    expect(last).toMatchObject({
      action: 'intake.recovered',
      details: {
        interrupted: 1,
        released: 0,
        jobs: [{ jobId: job.id, was: 'running', now: 'interrupted' }],
      },
    });
    expect((await runCli(['--data-dir', dataDir, 'audit', 'verify'])).code).toBe(0);

    // Nothing left to do the second time.
    const again = await runCli(['--data-dir', dataDir, 'recover', '--user', 'supervisor']);
    expect(again.out).toEqual(['no unfinished intake jobs: nothing to recover']);

    // The booklet left the hopper without a verdict: reconciliation says so...
    const flagged = await runCli(['--data-dir', dataDir, 'report', 'reconcile', '--date', today]);
    expect(flagged.code).toBe(1);
    expect(flagged.out).toContain(
      `discrepancy: PA0100002: intake job ${job.id} ended interrupted without a verdict: the booklet was taken in, but no acceptance or refusal was recorded and nothing has settled it since`,
    );
    // ...until it goes through intake again.
    await sim.close();
    sim = await slowSimulator('PA0100002');
    const redo = await runCli([
      '--data-dir',
      dataDir,
      'intake',
      '--port',
      sim.stationPath,
      '--user',
      'operator',
      '--count',
      '1',
      '--lang',
      'en',
    ]);
    expect(redo.out).toEqual([expect.stringMatching(/^PA0100002 accepted/)]);
    expect(
      (await runCli(['--data-dir', dataDir, 'report', 'reconcile', '--date', today])).code,
    ).toBe(0);
  });
});
