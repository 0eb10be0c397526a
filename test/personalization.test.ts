/**
 * The personalization job end to end, over the simulator and the real serial stack: a normal
 * job ends with a passport whose chip our border reader and OpenSSL accept, whose DG1 equals the
 * MRZ read back from the printed page, with its issuance record and outbox entry. Each injected
 * fault ends in its documented outcome (docs/personalization.md).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chipFileSystemDump, readAsBorder } from '../mrtd/border-reader.ts';
import { dg1 } from '../mrtd/lds.ts';
import { LifeCycle } from '../simulator/chip.ts';
import { lookupBooklet } from '../station/booklets.ts';
import { verifyAudit } from '../station/audit.ts';
import { personalize, type PersoOutcome } from '../station/personalization/job.ts';
import { getPersoJob, persoJournal } from '../station/personalization/journal.ts';
import { pendingOutbox } from '../station/outbox.ts';
import { crossCheckHashes, readLdsSecurityObject } from './helpers/lds-security-object.ts';
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

const appStatus = (id: number): string =>
  ps.station.db.prepare('SELECT status FROM applications WHERE id = ?').pluck().get(id) as string;

describe('a normal job', () => {
  it('issues a passport that our verifier and OpenSSL accept, with its record and outbox entry', async () => {
    rig = await startRig(ps, [ps.booklet('PA3000001')]);
    const o = await personalize(rig.opts());
    expect(o.outcome).toBe('issued');
    if (o.outcome !== 'issued') return;
    expect(o.serial).toBe('PA3000001');
    expect(lookupBooklet(ps.station.db, 'PA3000001')!.state).toBe('issued');
    expect(appStatus(o.applicationId!)).toBe('personalized');
    const sb = rig.sim.outputTray.at(-1)!;
    expect(sb.booklet.printedSerial).toBe('PA3000001');
    const chip = sb.chip!;
    expect(chip.lifeCycle).toBe(LifeCycle.LOCKED);
    // DG1 equals the MRZ read back from the printed page.
    const printed = printedMrz(sb.printed!).join('');
    expect(o.printedMrz).toBe(printed);
    // Read the chip again, as a border would, with the printed MRZ.
    chip.reset();
    const r = await readAsBorder({
      transceive: async (raw) => chip.process(raw),
      mrz: printed,
      cscas: [ps.signer.cscaPem],
      extendedLength: true,
    });
    expect(r.failed).toEqual([]);
    expect(dg1.decode(r.files.get('DG1')!)).toBe(printed);
    // OpenSSL: cms -verify of EF.SOD against the CSCA, and every data-group hash.
    const dir = mkdtempSync(join(tmpdir(), 'perso-dump-'));
    try {
      for (const f of chipFileSystemDump(r.files)) writeFileSync(join(dir, f.name), f.data);
      writeFileSync(join(dir, 'csca.crt'), ps.signer.cscaPem);
      const sod = r.files.get('EF.SOD')!;
      // EF.SOD is tag 77 around the CMS ContentInfo.
      const cms = sod.subarray(sod[1]! < 0x80 ? 2 : 2 + (sod[1]! & 0x7f));
      writeFileSync(join(dir, 'sod.der'), cms);
      const content = execFileSync(
        'openssl',
        [
          'cms',
          '-verify',
          '-inform',
          'DER',
          '-in',
          join(dir, 'sod.der'),
          '-CAfile',
          join(dir, 'csca.crt'),
          '-purpose',
          'any',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const lso = readLdsSecurityObject(content);
      expect(lso.hashes.size).toBeGreaterThanOrEqual(3);
      expect(crossCheckHashes(lso, r.files)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The issuance record and its outbox entry.
    const rec = ps.station.db
      .prepare('SELECT * FROM issuances WHERE job_id = ?')
      .get(o.jobId) as Record<string, string>;
    expect(rec).toMatchObject({
      document_number: 'PA3000001',
      booklet_serial: 'PA3000001',
      chip_uid: o.chipUid,
    });
    expect(JSON.parse(rec.dg_hashes!)).toHaveProperty('DG1');
    expect(
      pendingOutbox(ps.station.db, 1000).filter(
        (x) => x.kind === 'issuance' && (x.payload as { jobId: number }).jobId === o.jobId,
      ),
    ).toHaveLength(1);
    expect(getPersoJob(ps.station.db, o.jobId)).toMatchObject({
      status: 'issued',
      sealedMrz: null,
    });
    expect(persoJournal(ps.station.db, o.jobId).map((j) => j.step)).toContain('border-result');
    expect(verifyAudit(ps.station.db).ok).toBe(true);
  });
});

const inProcess = (): number =>
  ps.station.db
    .prepare(`SELECT count(*) FROM booklets WHERE state = 'in_process'`)
    .pluck()
    .get() as number;

/** Applications waiting in the queue. */
function appsQueued(): number {
  return (
    ps.station.db
      .prepare("SELECT count(*) AS n FROM applications WHERE status = 'queued'")
      .get() as {
      n: number;
    }
  ).n;
}

function expectSpoiled(o: PersoOutcome, serial: string, step: string, answer: RegExp) {
  expect(o).toMatchObject({ outcome: 'spoiled', serial, step });
  if (o.outcome !== 'spoiled') return;
  expect(o.answer).toMatch(answer);
  expect(o.ejectError).toBeUndefined();
  expect(lookupBooklet(ps.station.db, serial)!.state).toBe('spoiled');
  expect(appStatus(o.applicationId!)).toBe('queued');
  expect(rig!.sim.rejectTray.at(-1)!.booklet.printedSerial).toBe(serial);
  expect(getPersoJob(ps.station.db, o.jobId)).toMatchObject({
    status: 'spoiled',
    failedStep: step,
    sealedMrz: null,
  });
  const events = ps.station.db
    .prepare(
      `SELECT reason FROM booklet_events e JOIN booklets b ON b.id = e.booklet_id WHERE b.serial = ? ORDER BY e.id DESC LIMIT 1`,
    )
    .pluck()
    .get(serial) as string;
  expect(events).toContain(step);
  expect(
    pendingOutbox(ps.station.db, 1000).filter(
      (x) => x.kind === 'spoilage' && (x.payload as { jobId: number }).jobId === o.jobId,
    ),
  ).toHaveLength(1);
  expect(inProcess()).toBe(0);
}

describe('what the central office says', () => {
  it('past the offline allowance nothing is taken, fed or written, and the limit is named', async () => {
    rig = await startRig(ps, [ps.booklet('PA3000012')]);
    const db = ps.station.db;
    const admin = ps.station.actor('admin');
    const supervisor = ps.station.actor('supervisor');
    // Enrolled with a central office that has not sent an offline allowance yet.
    db.prepare(
      `INSERT INTO sync_config (id, central_url, central_key_pem, station_key_id, enrolled_at,
         enrolled_by, applied_by) VALUES (1, 'http://127.0.0.1:9', 'none', 'none', ?, ?, ?)`,
    ).run(new Date().toISOString(), admin.id, supervisor.id);
    try {
      const queued = appsQueued();
      await expect(personalize(rig.opts())).rejects.toThrow(
        /issuance is stopped: the central office has not sent this station an offline allowance/,
      );
      expect(rig.sim.device.counters.fed).toBe(0);
      expect(appsQueued()).toBe(queued);
      expect(lookupBooklet(db, 'PA3000012')!.state).toBe('allocated');
    } finally {
      db.prepare('DELETE FROM sync_config WHERE id = 1').run();
    }
  });

  it("a booklet on the central office's lost/stolen list is refused at intake, and the next one issued", async () => {
    rig = await startRig(ps, [ps.booklet('PA3000013'), ps.booklet('PA3000014')]);
    const db = ps.station.db;
    db.prepare(
      `INSERT INTO sync_lost_stolen (serial, status, reported_at, pulled_at) VALUES (?, 'stolen', ?, ?)`,
    ).run('PA3000013', new Date().toISOString(), new Date().toISOString());
    const o = await personalize(rig.opts());
    expect(o).toMatchObject({ outcome: 'issued', serial: 'PA3000014' });
    if (o.outcome !== 'issued') return;
    expect(o.refusals).toEqual([{ serial: 'PA3000013', reason: 'REPORTED_LOST_OR_STOLEN' }]);
  });
});

describe('faults and their outcomes', () => {
  it('a smeared print: the camera cannot read the MRZ, so the booklet is spoiled at the MRZ check', async () => {
    rig = await startRig(ps, [{ ...ps.booklet('PA3000010'), faults: ['smear-print'] }]);
    const o = await personalize(rig.opts());
    expectSpoiled(o, 'PA3000010', 'read-mrz', /MRZ_UNREADABLE|unreadable/i);
  });

  it('a misprinted line: the MRZ read back differs from DG1, so the booklet is spoiled at the MRZ check', async () => {
    rig = await startRig(ps, [{ ...ps.booklet('PA3000011'), faults: ['misprint'] }]);
    const o = await personalize(rig.opts());
    expectSpoiled(o, 'PA3000011', 'read-mrz', /differ|DG1/i);
  });

  it('the chip dies mid-write: spoiled at the chip step, with the device answer; application back in the queue', async () => {
    rig = await startRig(ps, [ps.booklet('PA3000002')]);
    const o0 = rig.opts();
    let n = 0;
    const transmit = o0.encoder.transmit.bind(o0.encoder);
    o0.encoder.transmit = async (raw, permit) => {
      // The 6th protected command: files are being written.
      if (raw[1] === 0xd6 && ++n === 3) rig!.sim.inject('kill-chip');
      return transmit(raw, permit);
    };
    const o = await personalize(o0);
    expectSpoiled(o, 'PA3000002', 'chip-step', /UPDATE BINARY .* chip stopped answering/);
  });

  it('a jam while printing: spoiled at print; the job pauses for the jam before the reject eject', async () => {
    rig = await startRig(ps, [ps.booklet('PA3000003')]);
    const o0 = rig.opts();
    const pauses: string[] = [];
    const print = o0.printer.printPage.bind(o0.printer);
    o0.printer.printPage = async (raster, permit, opts) => {
      rig!.sim.inject('jam');
      return print(raster, permit, opts);
    };
    const o = await personalize({
      ...o0,
      waitForOperator: async (p) => {
        pauses.push(`${p.step}:${p.status}`);
        rig!.sim.inject('clear-jam');
      },
    });
    expectSpoiled(o, 'PA3000003', 'print', /JAM/);
    expect(pauses).toEqual(['eject-reject:JAM']);
  });

  it('the connection drops while the chip is written: spoiled; the link comes back for the reject eject', async () => {
    rig = await startRig(ps, [ps.booklet('PA3000004')]);
    const o0 = rig.opts();
    let n = 0;
    const transmit = o0.encoder.transmit.bind(o0.encoder);
    o0.encoder.transmit = async (raw, permit) => {
      if (raw[1] === 0xd6 && ++n === 2) rig!.sim.inject('disconnect 200');
      return transmit(raw, permit);
    };
    const o = await personalize(o0);
    expectSpoiled(o, 'PA3000004', 'chip-step', /disconnected|link/);
  });

  it('ribbon out: the job pauses before printing, resumes once replaced, and issues', async () => {
    rig = await startRig(ps, [ps.booklet('PA3000005')]);
    rig.sim.inject('ribbon-out');
    const pauses: string[] = [];
    const o = await personalize({
      ...rig.opts(),
      waitForOperator: async (p) => {
        pauses.push(`${p.step}:${p.status}`);
        rig!.sim.inject('ribbon-replace');
      },
    });
    expect(o.outcome).toBe('issued');
    expect(pauses).toEqual(['print:RIBBON_OUT']);
    expect(lookupBooklet(ps.station.db, 'PA3000005')!.state).toBe('issued');
  });

  it('hopper empty: the job pauses at intake and goes on when booklets are loaded', async () => {
    rig = await startRig(ps, []);
    const pauses: string[] = [];
    const o = await personalize({
      ...rig.opts(),
      waitForOperator: async (p) => {
        pauses.push(`${p.step}:${p.status}`);
        rig!.sim.hopper.push(ps.booklet('PA3000006'));
      },
    });
    expect(pauses).toEqual(['intake:HOPPER_EMPTY']);
    expect(o).toMatchObject({ outcome: 'issued', serial: 'PA3000006' });
  });

  it('hopper empty and nobody loads it: the application goes back to the queue, nothing else moved', async () => {
    rig = await startRig(ps, []);
    const o = await personalize({
      ...rig.opts(),
      waitForOperator: () => Promise.reject(new Error('operator stopped the job')),
    });
    expect(o).toMatchObject({ outcome: 'returned', step: 'intake' });
    if (o.outcome !== 'returned') return;
    expect(appStatus(o.applicationId!)).toBe('queued');
    expect(o.serial).toBeUndefined();
  });

  it('a failure before anything is written gives the booklet back to stock, blank, in the output tray', async () => {
    rig = await startRig(ps, [ps.booklet('PA3000007')]);
    const o = await personalize({
      ...rig.opts(),
      signer: {
        ...ps.signer,
        signer: {
          keyType: 'ec',
          sign: () => Promise.reject(new Error('token removed')),
          close() {},
        },
      },
    });
    expect(o).toMatchObject({ outcome: 'returned', step: 'prepare', serial: 'PA3000007' });
    if (o.outcome !== 'returned') return;
    expect(o.answer).toMatch(/token removed/);
    expect(lookupBooklet(ps.station.db, 'PA3000007')!.state).toBe('allocated');
    expect(appStatus(o.applicationId!)).toBe('queued');
    const out = rig.sim.outputTray.at(-1)!;
    expect(out.booklet.printedSerial).toBe('PA3000007');
    expect(out.chip!.lifeCycle).toBe(LifeCycle.PRE_PERSONALIZED);
    expect(out.printed).toBeUndefined();
    expect(inProcess()).toBe(0);
  });

  it('refuses to personalize with the TEST Document Signer, and a technician may not personalize', async () => {
    rig = await startRig(ps, []);
    await expect(personalize({ ...rig.opts(), signer: ps.testSigner })).rejects.toThrow(
      /production Document Signer/,
    );
    await expect(personalize(rig.opts('technician'))).rejects.toThrow(
      /technician|not allowed|role/i,
    );
  });
});
