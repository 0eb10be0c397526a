/**
 * Booklet intake for the command line (`station intake` and the `station start` console): the
 * run itself lives in the station (station/intake/run.ts); this file words its outcomes.
 */
import type { IntakeOutcome } from '../station/intake/intake.ts';
import { EJECT_FAILED_MESSAGES, type StationLanguage } from '../station/intake/messages.ts';

export {
  isHopperEmpty,
  runIntake,
  type IntakeRunOptions,
  type IntakeRunResult,
} from '../station/intake/run.ts';

/** One line per booklet for the operator, in their language. */
export function formatIntakeLine(o: IntakeOutcome, lang: StationLanguage): string {
  const serial = o.facts.printedSerial ?? '(unreadable)';
  if (o.decision === 'accepted') return `${serial} accepted (job ${o.jobId})`;
  const m = o.messages[lang];
  const line = `${serial} refused ${o.reason}: ${m.reason} ${m.instruction}`;
  return o.ejectError === undefined
    ? line
    : `${line} ${EJECT_FAILED_MESSAGES[lang]} (${o.ejectError})`;
}

/** The outcome as one JSON line, without the in-memory clearance. */
export function intakeOutcomeJson(o: IntakeOutcome): string {
  const { clearance: _c, ...rest } = o as IntakeOutcome & { clearance?: unknown };
  return JSON.stringify(rest);
}
