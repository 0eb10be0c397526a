/**
 * Technicians' test jobs: a dry run on TEST stock with specimen data, signed by the TEST
 * Document Signer (verifies against the TEST CSCA, never against the production one); a
 * production booklet in a test job is refused and untouched; test patterns and the encoder
 * self-test leave result records.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LifeCycle } from '../simulator/chip.ts';
import { lookupBooklet } from '../station/booklets.ts';
import {
  dryRunJob,
  encoderSelfTest,
  testPatternJob,
} from '../station/personalization/test-jobs.ts';
import {
  printedMrz,
  seedPersoStation,
  startRig,
  type PersoRig,
  type PersoStation,
} from './perso-support.ts';

let ps: PersoStation;
let rig: PersoRig | undefined;

beforeAll(async () => {
  ps = await seedPersoStation();
});
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});
afterAll(async () => {
  await ps?.close();
});

const results = () =>
  ps.station.db
    .prepare('SELECT kind, passed, booklet_serial FROM test_job_results ORDER BY id')
    .all();

describe('test jobs', () => {
  it('a dry run personalizes a TEST booklet that the production CSCA refuses', async () => {
    rig = await startRig(ps, [ps.booklet('PT3000001')]);
    const o = await dryRunJob({
      ...rig.opts('technician'),
      signer: ps.testSigner,
      productionCscaPem: ps.signer.cscaPem,
    });
    expect(o).toMatchObject({ outcome: 'test_passed', serial: 'PT3000001' });
    if (o.outcome !== 'test_passed') return;
    expect(o.checks).toContainEqual({ id: 'production-csca.refuses', ok: true });
    expect(o.checks.filter((c) => !c.ok)).toEqual([]);
    expect(lookupBooklet(ps.station.db, 'PT3000001')!.state).toBe('test_consumed');
    const sb = rig.sim.outputTray.at(-1)!;
    expect(printedMrz(sb.printed!)[0]).toMatch(/^P<UTOSPECIMEN<<TEST<JOB/);
    expect(results()).toContainEqual({ kind: 'dry-run', passed: 1, booklet_serial: 'PT3000001' });
    expect(ps.station.db.prepare('SELECT count(*) FROM issuances').pluck().get()).toBe(0);
  });

  it('a production booklet in a test job is refused, its ledger state and chip untouched', async () => {
    rig = await startRig(ps, [ps.booklet('PA3000021')]);
    const o = await dryRunJob({
      ...rig.opts('technician'),
      signer: ps.testSigner,
      waitForOperator: () => Promise.reject(new Error('no more test stock')),
    });
    expect(o).toMatchObject({
      outcome: 'returned',
      refusals: [{ serial: 'PA3000021', reason: 'NOT_AVAILABLE' }],
    });
    expect(lookupBooklet(ps.station.db, 'PA3000021')!.state).toBe('allocated');
    const sb = rig.sim.rejectTray.at(-1)!;
    expect(sb.booklet.printedSerial).toBe('PA3000021');
    expect(sb.chip!.lifeCycle).toBe(LifeCycle.PRE_PERSONALIZED);
    expect(sb.printed).toBeUndefined();
  });

  it('a dry run with the production signer, or by an operator, is refused before anything', async () => {
    rig = await startRig(ps, []);
    await expect(dryRunJob({ ...rig.opts('technician') })).rejects.toThrow(/TEST Document Signer/);
    await expect(dryRunJob({ ...rig.opts('operator'), signer: ps.testSigner })).rejects.toThrow();
  });

  it('test pattern and encoder self-test leave result records', async () => {
    rig = await startRig(ps, []);
    const t = await testPatternJob({ ...rig.opts('technician') }, 'alignment');
    expect(t).toMatchObject({ kind: 'test-pattern', passed: true });
    expect(rig.sim.device.printLog.at(-1)).toEqual({ kind: 'test-pattern', detail: 'alignment' });
    const e = await encoderSelfTest(rig.opts('technician'));
    expect(e.passed).toBe(true);
    expect(results()).toEqual(
      expect.arrayContaining([
        { kind: 'test-pattern', passed: 1, booklet_serial: null },
        { kind: 'encoder-self-test', passed: 1, booklet_serial: null },
      ]),
    );
    rig.sim.inject('ribbon-out');
    const failed = await testPatternJob({ ...rig.opts('technician') }, 'nozzle');
    expect(failed).toMatchObject({
      passed: false,
      detail: { answer: expect.stringMatching(/RIBBON_OUT/) },
    });
    await expect(testPatternJob(rig.opts('operator'))).rejects.toThrow();
  });
});
