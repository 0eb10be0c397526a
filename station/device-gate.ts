/**
 * The device gate: the one place that hands out device permits (drivers/permit.ts), the
 * capability without which the link sends no command that moves a booklet, prints on it,
 * authenticates against or writes to its chip, or runs printer maintenance. Each permit is
 * given only to a signed-in user whose role allows it, with an audit entry, and, for printing
 * and chip writing, against a clearance from a passed intake of that booklet (production stock
 * for operators and supervisors, test stock for technicians).
 *
 * This module claims the permit authority when it is loaded: no other code of the process can
 * mint a permit, and if anything claimed it first this module fails to load.
 */
import type { EncoderClient } from '../drivers/encoder.ts';
import type { Link } from '../drivers/link.ts';
import {
  claimPermitAuthority,
  type DevicePermit,
  type GuardedOperation,
} from '../drivers/permit.ts';
import type { PrinterClient } from '../drivers/printer.ts';
import type { Db } from '../db/open.ts';
import { writeAudit } from './audit.ts';
import { InvalidInputError } from './errors.ts';
import { requireClearance } from './intake/intake.ts';
import type { JobKind } from './intake/journal.ts';
import { requireRole, type Actor, type Role } from './users.ts';

const authority = claimPermitAuthority();

/** Who may use the device directly (terminal, test patterns, device info). */
export const DEVICE_ROLES: readonly Role[] = ['technician', 'admin'];

/** Who may work on a booklet of each kind of job (the same roles as intake). */
const JOB_ROLES: Record<JobKind, readonly Role[]> = {
  production: ['operator', 'supervisor'],
  test: ['technician', 'supervisor'],
};

/** What may be done to a booklet that passed intake (never FEED: that brings in another one). */
export type ClearedOperation = Extract<
  GuardedOperation,
  'MOVE_TO_ENCODER' | 'PRINT_DATA_PAGE' | 'CHIP_AUTH' | 'CHIP_WRITE' | 'EJECT'
>;
const CLEARED_OPERATIONS: readonly GuardedOperation[] = [
  'MOVE_TO_ENCODER',
  'PRINT_DATA_PAGE',
  'CHIP_AUTH',
  'CHIP_WRITE',
  'EJECT',
];

function linksOf(...clients: { link: Link }[]): Link[] {
  return [...new Set(clients.map((c) => c.link))];
}

/**
 * Intake of one booklet (called by station/intake for each job): FEED once, MOVE_TO_ENCODER,
 * the transport authentication (CHIP_AUTH) and EJECT, which ends it. No printing, no writes.
 */
export function permitIntake(
  db: Db,
  actor: Actor,
  devices: { printer: PrinterClient; encoder: EncoderClient },
  job: { jobId: number; jobKind: JobKind },
): DevicePermit {
  requireRole(
    actor,
    JOB_ROLES[job.jobKind],
    job.jobKind === 'production' ? 'run intake for production' : 'run intake for test jobs',
  );
  const operations: GuardedOperation[] = ['FEED', 'MOVE_TO_ENCODER', 'CHIP_AUTH', 'EJECT'];
  writeAudit(db, {
    actor,
    action: 'device.permit',
    details: { purpose: 'intake', jobId: job.jobId, jobKind: job.jobKind, operations },
  });
  return authority.mint({
    purpose: `intake job ${job.jobId}`,
    operations,
    links: linksOf(devices.printer, devices.encoder),
    limits: { FEED: 1 },
    endsWith: ['EJECT'],
  });
}

/**
 * Work on a booklet that passed intake and is still in the transport: personalization
 * (production, operators and supervisors), a technician's test job (test stock), or the
 * release of an accepted booklet. The clearance must still hold (job accepted, booklet in
 * process, the same chip in the encoder). The permit is valid on the devices intake used and
 * ends when the booklet is ejected.
 */
export function permitForClearance(
  db: Db,
  actor: Actor,
  clearance: unknown,
  operations: readonly ClearedOperation[],
  purpose: string,
): DevicePermit {
  const c = requireClearance(db, clearance);
  requireRole(
    actor,
    JOB_ROLES[c.jobKind],
    c.jobKind === 'production' ? 'work on production booklets' : 'work on test booklets',
  );
  for (const op of operations)
    if (!CLEARED_OPERATIONS.includes(op))
      throw new InvalidInputError(`${op} is not allowed on a booklet that passed intake`);
  writeAudit(db, {
    actor,
    action: 'device.permit',
    details: { purpose, jobId: c.jobId, serial: c.serial, jobKind: c.jobKind, operations },
  });
  return authority.mint({
    purpose: `${purpose} of ${c.serial}`,
    operations,
    links: linksOf(c.printer, c.encoder),
    endsWith: ['EJECT'],
  });
}

/**
 * One EJECT of whatever booklet is in the transport, for a supervisor or technician clearing
 * the printer after a fault or a restart (moving prints nothing and writes nothing). Single use.
 */
export function permitClearTransport(
  db: Db,
  actor: Actor,
  printer: PrinterClient,
  reason: string,
): DevicePermit {
  requireRole(actor, ['supervisor', 'technician'], 'clear the printer transport');
  writeAudit(db, {
    actor,
    action: 'device.permit',
    details: { purpose: 'clear the transport', reason, operations: ['EJECT'] },
  });
  return authority.mint({
    purpose: 'clear the transport',
    operations: ['EJECT'],
    links: [printer.link],
    uses: 1,
  });
}

/**
 * One EJECT again for a job whose eject was stopped by a fault a person cleared (a jam, the
 * cover, a full reject tray): the job's permit ended with the first EJECT sent. For the user
 * running the job; single use, audited. Moving prints nothing and writes nothing.
 */
export function permitEjectAgain(
  db: Db,
  actor: Actor,
  printer: PrinterClient,
  job: { jobId: number; serial: string; tray: 'output' | 'reject' },
): DevicePermit {
  requireRole(actor, ['operator', 'supervisor', 'technician'], 'eject a booklet again');
  writeAudit(db, {
    actor,
    action: 'device.permit',
    details: { purpose: 'eject again', ...job, operations: ['EJECT'] },
  });
  return authority.mint({
    purpose: `eject ${job.serial} again`,
    operations: ['EJECT'],
    links: [printer.link],
    uses: 1,
  });
}

/**
 * Recovery of a personalization job a dead process left (station/personalization/recovery.ts):
 * bring the booklet in the transport to the encoder, read its chip as a border reader does
 * (BAC and Active Authentication are authentications: CHIP_AUTH) and eject it. No printing,
 * no writes. Ends with the EJECT.
 */
export function permitRecoveryRead(
  db: Db,
  actor: Actor,
  devices: { printer: PrinterClient; encoder: EncoderClient },
  jobId: number,
): DevicePermit {
  requireRole(actor, ['operator', 'supervisor', 'technician', 'admin'], 'recover jobs');
  const operations: GuardedOperation[] = ['MOVE_TO_ENCODER', 'CHIP_AUTH', 'EJECT'];
  writeAudit(db, {
    actor,
    action: 'device.permit',
    details: { purpose: 'recovery', jobId, operations },
  });
  return authority.mint({
    purpose: `recovery of job ${jobId}`,
    operations,
    links: linksOf(devices.printer, devices.encoder),
    endsWith: ['EJECT'],
  });
}

/** Printer maintenance that prints on no booklet (test pattern, cleaning). Single use. */
export function permitMaintenance(
  db: Db,
  actor: Actor,
  link: Link,
  operation: Extract<GuardedOperation, 'TEST_PATTERN' | 'CLEAN'>,
  detail: Record<string, unknown> = {},
): DevicePermit {
  requireRole(actor, DEVICE_ROLES, 'run printer maintenance');
  writeAudit(db, {
    actor,
    action: 'device.maintenance',
    details: { operation, ...detail },
  });
  return authority.mint({ purpose: operation, operations: [operation], links: [link], uses: 1 });
}

/** Direct device use (device info, the terminal): role checked and audited. */
export function auditDeviceUse(
  db: Db,
  actor: Actor,
  action: string,
  details: Record<string, unknown>,
): void {
  requireRole(actor, DEVICE_ROLES, 'use the device directly');
  writeAudit(db, { actor, action, details });
}

/** Ends a permit before its natural end (its job decided or failed). */
export function revokePermit(permit: DevicePermit, why: string): void {
  authority.revoke(permit, why);
}
