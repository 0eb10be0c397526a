/**
 * Technicians' test jobs (docs/personalization.md, "Test jobs"), each leaving a result record
 * (`test_job_results`) and an audit entry:
 *
 * - `test-pattern`: a printer test pattern (nozzle, alignment, colour bars) through the gate;
 * - `encoder-self-test`: the encoder's field, chip detection and the device's identity;
 * - `dry-run`: the whole personalization job on a TEST booklet with specimen data, signed by the
 *   TEST Document Signer; the chip must verify against the TEST CSCA and must NOT verify against
 *   the production CSCA. Intake takes test stock only: a production booklet is refused, its
 *   ledger state untouched, nothing written or printed on it.
 */
import type { TestPatternKind } from '../../drivers/protocol.ts';
import { TestPattern } from '../../drivers/protocol.ts';
import { DeviceError, Status } from '../../drivers/protocol.ts';
import type { Db } from '../../db/open.ts';
import { writeAudit } from '../audit.ts';
import { auditDeviceUse, permitMaintenance } from '../device-gate.ts';
import { InvalidInputError, StationError } from '../errors.ts';
import { getStationIdentity } from '../identity.ts';
import { requireRole, type Actor } from '../users.ts';
import { deviceAnswer, runJob, type PersonalizeOptions, type PersoOutcome } from './job.ts';
import { specimenApplication } from './specimen.ts';

export const TEST_JOB_KINDS = ['test-pattern', 'encoder-self-test', 'dry-run'] as const;
export type TestJobKind = (typeof TEST_JOB_KINDS)[number];

export interface TestJobResult {
  kind: TestJobKind;
  passed: boolean;
  resultId: number;
  detail: Record<string, unknown>;
}

function record(
  db: Db,
  actor: Actor,
  kind: TestJobKind,
  passed: boolean,
  detail: Record<string, unknown>,
): TestJobResult {
  const id = db.transaction(() => {
    const r = db
      .prepare(
        `INSERT INTO test_job_results (kind, station_id, actor_id, at, passed, detail)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        kind,
        getStationIdentity(db).stationId,
        actor.id,
        new Date().toISOString(),
        passed ? 1 : 0,
        JSON.stringify(detail),
      );
    writeAudit(db, { actor, action: `test_job.${kind}`, details: { passed, ...detail } });
    return Number(r.lastInsertRowid);
  })();
  return { kind, passed, resultId: id, detail };
}

/** Prints a test pattern (no booklet). */
export async function testPatternJob(
  opts: Pick<PersonalizeOptions, 'db' | 'actor' | 'printer'>,
  pattern: TestPatternKind = 'nozzle',
): Promise<TestJobResult> {
  requireRole(opts.actor, ['technician', 'admin'], 'run test jobs');
  if (!(pattern in TestPattern))
    throw new InvalidInputError(
      `unknown test pattern "${pattern}" (nozzle, alignment, colour-bars)`,
    );
  const permit = permitMaintenance(opts.db, opts.actor, opts.printer.link, 'TEST_PATTERN', {
    pattern,
  });
  try {
    await opts.printer.testPattern(pattern, permit);
    return record(opts.db, opts.actor, 'test-pattern', true, { pattern });
  } catch (e) {
    return record(opts.db, opts.actor, 'test-pattern', false, { pattern, answer: deviceAnswer(e) });
  }
}

/** The encoder's self-test: identity, field on, a chip detection that answers, field off. */
export async function encoderSelfTest(
  opts: Pick<PersonalizeOptions, 'db' | 'actor' | 'encoder'>,
): Promise<TestJobResult> {
  requireRole(opts.actor, ['technician', 'admin'], 'run test jobs');
  auditDeviceUse(opts.db, opts.actor, 'device.self_test', { device: 'encoder' });
  const checks: { id: string; ok: boolean; detail?: string }[] = [];
  try {
    const id = await opts.encoder.identify();
    checks.push({ id: 'identify', ok: true, detail: `${id.model} ${id.firmware}` });
    await opts.encoder.field(true);
    checks.push({ id: 'field-on', ok: true });
    try {
      const chip = await opts.encoder.detectChip();
      checks.push({ id: 'detect', ok: true, detail: `chip ${chip.uid.toString('hex')}` });
    } catch (e) {
      // No booklet at the encoder: the encoder answered, which is what is tested.
      const answered = e instanceof DeviceError && e.status === Status.NO_CHIP;
      checks.push({ id: 'detect', ok: answered, detail: deviceAnswer(e) });
    }
    await opts.encoder.field(false);
    checks.push({ id: 'field-off', ok: true });
  } catch (e) {
    checks.push({ id: 'device', ok: false, detail: deviceAnswer(e) });
  }
  return record(
    opts.db,
    opts.actor,
    'encoder-self-test',
    checks.every((c) => c.ok),
    { checks },
  );
}

/** A full dry run on TEST stock with specimen data and the TEST Document Signer. */
export async function dryRunJob(
  opts: Omit<PersonalizeOptions, 'applicationId'> & { productionCscaPem?: string },
): Promise<PersoOutcome> {
  requireRole(opts.actor, ['technician', 'supervisor'], 'run a dry run on test stock');
  if (opts.signer.kind !== 'test')
    throw new StationError('a dry run is signed by the TEST Document Signer only', 'signer_kind');
  return runJob(opts, {
    jobKind: 'test',
    application: specimenApplication(),
    ...(opts.productionCscaPem ? { mustNotVerify: [opts.productionCscaPem] } : {}),
  });
}
