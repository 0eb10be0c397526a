/**
 * Recovery from evidence, one case at a time: a job is frozen at a chosen point (its promise
 * never settles, as if the process had died there), the station restarts (a new lock session)
 * and recovers with the device: what it decides follows from the booklet read in the transport
 * and the journal, never from a guess.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LifeCycle } from '../simulator/chip.ts';
import { lookupBooklet } from '../station/booklets.ts';
import { verifyAudit } from '../station/audit.ts';
import { personalize, type PersonalizeOptions } from '../station/personalization/job.ts';
import { getPersoJob } from '../station/personalization/journal.ts';
import { listRecoveryDecisions, recoverStation } from '../station/personalization/recovery.ts';
import { seedPersoStation, startRig, type PersoRig, type PersoStation } from './perso-support.ts';

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

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
const appStatus = (id: number): string =>
  ps.station.db.prepare('SELECT status FROM applications WHERE id = ?').pluck().get(id) as string;

/** Starts a job that freezes where `freeze` says; resolves once it is frozen, with its job id. */
async function frozenJob(
  serial: string,
  freeze: (o: PersonalizeOptions, frozen: () => void) => void,
): Promise<number> {
  rig = await startRig(ps, [ps.booklet(serial)]);
  const o = rig.opts();
  let jobId = 0;
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  freeze(o, resolve);
  void personalize({ ...o, onStep: (_s, id) => (jobId = id) });
  await reached;
  return jobId;
}

async function restartAndRecover() {
  const lock = ps.station.restart();
  return recoverStation({
    db: ps.station.db,
    lock,
    actor: ps.station.actor('operator'),
    devices: { printer: rig!.dev.printer, encoder: rig!.dev.encoder },
    dataKey: ps.dataKey,
    cscas: { production: ps.signer.cscaPem, test: ps.testSigner.cscaPem },
  });
}

describe('recovery of a personalization job a dead process left', () => {
  it('printed and verified, frozen before the MRZ read-back: the page is read now, issued', async () => {
    const jobId = await frozenJob('PA3000011', (o, frozen) => {
      const readMrz = o.printer.readMrz;
      o.printer.readMrz = () => {
        o.printer.readMrz = readMrz; // the restarted station reads with the real one
        frozen();
        return never();
      };
    });
    const r = await restartAndRecover();
    expect(r.personalization.jobs).toMatchObject([{ jobId, outcome: 'issued' }]);
    expect(r.personalization.jobs[0]!.decision).toMatch(/printed MRZ reads back equal to DG1/);
    expect(lookupBooklet(ps.station.db, 'PA3000011')!.state).toBe('issued');
    const job = getPersoJob(ps.station.db, jobId)!;
    expect(appStatus(job.applicationId!)).toBe('personalized');
    expect(rig!.sim.outputTray.at(-1)!.booklet.printedSerial).toBe('PA3000011');
    expect(
      ps.station.db.prepare('SELECT recovered FROM issuances WHERE job_id = ?').pluck().get(jobId),
    ).toBe(1);
  });

  it('ejected to the output tray, frozen before the record: issued from the journal and the empty transport', async () => {
    const jobId = await frozenJob('PA3000012', (o, frozen) => {
      const original = o.printer.eject;
      const eject = original.bind(o.printer);
      o.printer.eject = async (tray, permit) => {
        await eject(tray, permit);
        o.printer.eject = original;
        frozen();
        return never();
      };
    });
    const r = await restartAndRecover();
    expect(r.personalization.jobs).toMatchObject([{ jobId, outcome: 'issued' }]);
    expect(r.personalization.jobs[0]!.decision).toMatch(/transport is empty/);
  });

  it('frozen mid-write: the chip does not verify, spoiled and rejected; application back in the queue', async () => {
    let n = 0;
    const jobId = await frozenJob('PA3000013', (o, frozen) => {
      const transmit = o.encoder.transmit.bind(o.encoder);
      o.encoder.transmit = (raw, permit) => {
        if (raw[1] === 0xd6 && ++n === 3) return (frozen(), never());
        return transmit(raw, permit);
      };
    });
    const r = await restartAndRecover();
    expect(r.personalization.jobs).toMatchObject([{ jobId, outcome: 'spoiled' }]);
    expect(r.personalization.jobs[0]!.decision).toMatch(/chip does not verify: bac/);
    expect(lookupBooklet(ps.station.db, 'PA3000013')!.state).toBe('spoiled');
    expect(appStatus(getPersoJob(ps.station.db, jobId)!.applicationId!)).toBe('queued');
    expect(rig!.sim.rejectTray.at(-1)!.booklet.printedSerial).toBe('PA3000013');
  });

  it('frozen before anything was written: back to stock, blank, ejected; nothing guessed', async () => {
    const jobId = await frozenJob('PA3000014', (o, frozen) => {
      o.signer = {
        ...o.signer,
        signer: { keyType: 'ec', sign: () => (frozen(), never()), close() {} },
      };
    });
    const r = await restartAndRecover();
    expect(r.personalization.jobs).toMatchObject([{ jobId, outcome: 'returned' }]);
    expect(r.transport).toMatch(/PA3000014 .* output tray/);
    expect(lookupBooklet(ps.station.db, 'PA3000014')!.state).toBe('allocated');
    const out = rig!.sim.outputTray.at(-1)!;
    expect(out.chip!.lifeCycle).toBe(LifeCycle.PRE_PERSONALIZED);
    // A supervisor sees every decision.
    const seen = listRecoveryDecisions(ps.station.db, ps.station.actor('supervisor'));
    expect(seen.map((d) => d.jobId)).toContain(jobId);
    expect(verifyAudit(ps.station.db).ok).toBe(true);
    expect(
      ps.station.db
        .prepare(`SELECT count(*) FROM booklets WHERE state = 'in_process'`)
        .pluck()
        .get(),
    ).toBe(0);
  });

  it('without the device, a job that wrote stays unsettled and its booklet is not released', async () => {
    let n = 0;
    const jobId = await frozenJob('PA3000015', (o, frozen) => {
      const transmit = o.encoder.transmit.bind(o.encoder);
      o.encoder.transmit = (raw, permit) => {
        if (raw[1] === 0xd6 && ++n === 2) return (frozen(), never());
        return transmit(raw, permit);
      };
    });
    const lock = ps.station.restart();
    const r = await recoverStation({
      db: ps.station.db,
      lock,
      actor: ps.station.actor('operator'),
    });
    expect(r.personalization.pending.map((p) => p.jobId)).toEqual([jobId]);
    // Intake recovery leaves its booklet alone: it was written.
    expect(lookupBooklet(ps.station.db, 'PA3000015')!.state).toBe('in_process');
    const again = await restartAndRecover();
    expect(again.personalization.jobs).toMatchObject([{ jobId, outcome: 'spoiled' }]);
  });
});
