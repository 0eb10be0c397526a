/**
 * Runs booklet intake over a number of booklets (the station core, `station intake`): takes each
 * booklet through intake, releases accepted ones blank to the output tray, and stops cleanly
 * when the input hopper is empty.
 */
import type { EncoderClient } from '../../drivers/encoder.ts';
import type { PrinterClient } from '../../drivers/printer.ts';
import { DeviceError, Status } from '../../drivers/protocol.ts';
import type { Db } from '../../db/open.ts';
import type { TransportKeyCustody } from '../keys/custody.ts';
import type { Actor } from '../users.ts';
import {
  IntakeDeviceError,
  intakeNextBooklet,
  releaseAccepted,
  type IntakeOutcome,
} from './intake.ts';
import type { JobKind } from './journal.ts';

export interface IntakeRunOptions {
  db: Db;
  actor: Actor;
  printer: PrinterClient;
  encoder: EncoderClient;
  custody: TransportKeyCustody;
  jobKind: JobKind;
  /** Booklets to take; Infinity runs until the hopper is empty. */
  count: number;
  /** Called once per booklet, after an accepted booklet was released. */
  onOutcome: (o: IntakeOutcome) => void;
  /** Checked before each booklet: true stops the run after the current booklet. */
  shouldStop?: () => boolean;
}

export interface IntakeRunResult {
  accepted: number;
  refused: number;
  /** Why the run ended. `eject-failed`: a refused booklet did not reach the reject tray and is
   * still in the printer, so no further booklet was fed. */
  end: 'count' | 'hopper-empty' | 'stopped' | 'eject-failed';
}

/** True if the error is intake's feed step finding the input hopper empty. */
export function isHopperEmpty(e: unknown): boolean {
  return (
    e instanceof IntakeDeviceError &&
    e.step === 'feed' &&
    e.cause instanceof DeviceError &&
    e.cause.status === Status.HOPPER_EMPTY
  );
}

/**
 * Takes up to `count` booklets through intake. A device fault other than an empty hopper
 * rejects with the IntakeDeviceError (the booklets before it stay decided and released).
 */
export async function runIntake(opts: IntakeRunOptions): Promise<IntakeRunResult> {
  const { db, actor, printer, encoder, custody, jobKind } = opts;
  const result: IntakeRunResult = { accepted: 0, refused: 0, end: 'count' };
  for (let i = 0; i < opts.count; i++) {
    if (opts.shouldStop?.()) {
      result.end = 'stopped';
      break;
    }
    let o: IntakeOutcome;
    try {
      o = await intakeNextBooklet({ db, actor, printer, encoder, custody, jobKind });
    } catch (e) {
      if (isHopperEmpty(e)) {
        result.end = 'hopper-empty';
        break;
      }
      throw e;
    }
    if (o.decision === 'accepted') {
      await releaseAccepted({ db, actor, printer, encoder }, o);
      result.accepted++;
    } else result.refused++;
    opts.onOutcome(o);
    if (o.decision === 'refused' && o.ejectError !== undefined) {
      result.end = 'eject-failed';
      break;
    }
  }
  return result;
}
