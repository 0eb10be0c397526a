/**
 * What `station personalize`, `station test-job dry-run`, `station recover` and the console
 * (a driver of the station core) share: opening the keys and signers, recovery from evidence on
 * the open device, and one line (or JSON object) per job.
 */
import type { Db } from '../db/open.ts';
import type { EncoderClient } from '../drivers/encoder.ts';
import type { PrinterClient } from '../drivers/printer.ts';
import { openStationDataKey } from '../station/applications/index.ts';
import type { ApplicationDataKey } from '../station/keys/data-key.ts';
import type { TransportKeyCustody } from '../station/keys/custody.ts';
import { openStationCustody } from '../station/keys/station-custody.ts';
import type { PersoOutcome, WaitForOperator } from '../station/personalization/job.ts';
import { recoverStation, type StationRecovery } from '../station/personalization/recovery.ts';
import {
  openStationSigner,
  stationCscas,
  type SignerKind,
  type StationSigner,
} from '../station/personalization/signers.ts';
import type { StationLock } from '../station/station-lock.ts';
import type { Actor } from '../station/users.ts';

export interface PersoKeys {
  custody: TransportKeyCustody;
  dataKey: ApplicationDataKey;
  signer: StationSigner;
  cscas: { production?: string; test?: string };
  close(): Promise<void>;
}

/** Opens the transport-key custody, the application data key and the Document Signer. */
export async function openPersoKeys(dataDir: string, kind: SignerKind): Promise<PersoKeys> {
  const custody = await openStationCustody(dataDir);
  let dataKey: ApplicationDataKey | undefined;
  try {
    dataKey = await openStationDataKey(dataDir);
    const signer = openStationSigner(dataDir, kind);
    const dk = dataKey;
    return {
      custody,
      dataKey: dk,
      signer,
      cscas: stationCscas(dataDir),
      close: async () => {
        signer.close();
        await dk.close();
        await custody.close();
      },
    };
  } catch (e) {
    await dataKey?.close();
    await custody.close();
    throw e;
  }
}

/** Recovery from evidence with the device open; the lines to show (supervisor-readable). */
export async function recoverWithDevice(
  db: Db,
  lock: StationLock,
  actor: Actor,
  devices: { printer: PrinterClient; encoder: EncoderClient },
  keys: Pick<PersoKeys, 'dataKey' | 'cscas'>,
): Promise<{ result: StationRecovery; lines: string[] }> {
  const result = await recoverStation({
    db,
    lock,
    actor,
    devices,
    dataKey: keys.dataKey,
    cscas: keys.cscas,
  });
  return { result, lines: recoveryLines(result) };
}

export function recoveryLines(r: StationRecovery): string[] {
  const lines = r.personalization.jobs.map(
    (j) =>
      `recovered personalization job ${j.jobId} (${j.serial ?? 'no booklet'}): ${j.outcome}: ${j.decision}` +
      (j.ejectError ? ` (eject failed: ${j.ejectError})` : ''),
  );
  for (const p of r.personalization.pending)
    lines.push(
      `personalization job ${p.jobId} (${p.serial ?? 'no booklet'}) left unsettled: ${p.reason}`,
    );
  if (r.intake.interrupted + r.intake.released > 0)
    lines.push(
      `recovered ${r.intake.interrupted} interrupted and ${r.intake.released} unfinished intake jobs`,
    );
  if (r.transport) lines.push(r.transport);
  return lines;
}

/** One job's outcome for people (no personal data: application id, serials, steps). */
export function formatPersoLine(o: PersoOutcome): string {
  switch (o.outcome) {
    case 'no-application':
      return 'no application is waiting in the queue';
    case 'issued':
    case 'test_passed':
      return `job ${o.jobId}: application ${o.applicationId ?? 'specimen'} ${o.outcome === 'issued' ? 'issued' : 'dry run passed'} as ${o.documentNumber} (booklet ${o.serial}, chip ${o.chipUid}); ${o.checks.filter((c) => c.ok).length} checks passed`;
    case 'spoiled':
      return `job ${o.jobId}: booklet ${o.serial} SPOILED at ${o.step}: ${o.answer}; application ${o.applicationId ?? 'specimen'} back in the queue${o.ejectError ? `; the booklet is still in the printer (${o.ejectError})` : ''}`;
    case 'returned':
      return `job ${o.jobId}: stopped at ${o.step} before anything was written: ${o.answer}; ${o.serial ? `booklet ${o.serial} back to stock, ` : ''}application ${o.applicationId ?? 'specimen'} back in the queue`;
  }
}

export function persoJson(o: PersoOutcome): string {
  if (o.outcome === 'issued' || o.outcome === 'test_passed') {
    const { chipFiles: _files, printedMrz: _mrz, ...rest } = o;
    return JSON.stringify(rest);
  }
  return JSON.stringify(o);
}

/** The console's and headless command's pause: say what to do, wait for the device to clear. */
export function announcePause(say: (line: string) => void, wait: WaitForOperator): WaitForOperator {
  return async (p) => {
    say(`job ${p.jobId} paused at ${p.step} (${p.status}): ${p.instruction}; waiting...`);
    await wait(p);
    say(`job ${p.jobId} resumes`);
  };
}
