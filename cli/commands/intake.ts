import type { Command } from 'commander';
import { EncoderClient } from '../../drivers/encoder.ts';
import { openSerialLink } from '../../drivers/open.ts';
import { PrinterClient } from '../../drivers/printer.ts';
import { DeviceError, Status } from '../../drivers/protocol.ts';
import {
  IntakeDeviceError,
  intakeNextBooklet,
  recoverIntakeJobs,
  releaseAccepted,
  type IntakeOutcome,
} from '../../station/intake/intake.ts';
import { STATION_LANGUAGES, type StationLanguage } from '../../station/intake/messages.ts';
import { openStationCustody } from '../../station/keys/station-custody.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { login, withStationDb } from './users.ts';

interface IntakeCliOpts {
  port: string;
  user?: string;
  count?: string;
  json?: boolean;
  testJob?: boolean;
  lang?: string;
}

function line(o: IntakeOutcome, lang: StationLanguage): string {
  const serial = o.facts.printedSerial ?? '(unreadable)';
  if (o.decision === 'accepted') return `${serial} accepted (job ${o.jobId})`;
  const m = o.messages[lang];
  return `${serial} refused ${o.reason}: ${m.reason} ${m.instruction}`;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('intake')
    .description(
      'run booklet intake headless: feed, identify and check each booklet; refused ones go to the reject tray, accepted ones are released blank to the output tray',
    )
    .requiredOption('--port <path>', 'serial port of the printer + encoder')
    .option('--user <name>', 'operator (or technician with --test-job); PIN from STATION_PIN')
    .option('--count <n>', 'booklets to take (default: until the hopper is empty)')
    .option('--test-job', 'a test job: test stock only (technicians)')
    .option(
      '--lang <lang>',
      `language of the operator messages: ${STATION_LANGUAGES.join(', ')}`,
      'es',
    )
    .option('--json', 'one JSON object per booklet')
    .action(async (opts: IntakeCliOpts) => {
      const lang = opts.lang as StationLanguage;
      if (!STATION_LANGUAGES.includes(lang))
        throw new CliError(`--lang must be one of ${STATION_LANGUAGES.join(', ')}`);
      const count = opts.count === undefined ? Infinity : Number(opts.count);
      if (!(count > 0) || (count !== Infinity && !Number.isInteger(count)))
        throw new CliError('--count must be a positive whole number');
      await withStationDb(ctx, async (db) => {
        const jobKind = opts.testJob ? 'test' : 'production';
        const actor = await login(
          db,
          opts.user,
          jobKind === 'test' ? ['technician', 'supervisor'] : ['operator', 'supervisor'],
          'run intake',
        );
        const recovered = recoverIntakeJobs(db, actor);
        if (recovered.interrupted + recovered.released > 0)
          ctx.err(
            `recovered ${recovered.interrupted} interrupted and ${recovered.released} unfinished intake jobs`,
          );
        const custody = await openStationCustody(ctx.dataDir());
        let link;
        try {
          link = await openSerialLink(opts.port);
        } catch (e) {
          await custody.close();
          throw new CliError(e instanceof Error ? e.message : String(e));
        }
        const printer = new PrinterClient(link);
        const encoder = new EncoderClient(link);
        const tally = { accepted: 0, refused: 0 };
        try {
          for (let i = 0; i < count; i++) {
            let o: IntakeOutcome;
            try {
              o = await intakeNextBooklet({ db, actor, printer, encoder, custody, jobKind });
            } catch (e) {
              if (
                e instanceof IntakeDeviceError &&
                e.step === 'feed' &&
                e.cause instanceof DeviceError &&
                e.cause.status === Status.HOPPER_EMPTY
              ) {
                if (count !== Infinity) ctx.err('the input hopper is empty');
                break;
              }
              throw new CliError(e instanceof Error ? e.message : String(e));
            }
            if (o.decision === 'accepted') {
              await releaseAccepted({ db, actor, printer, encoder }, o);
              tally.accepted++;
            } else tally.refused++;
            if (opts.json) {
              const { clearance: _c, ...rest } = o as IntakeOutcome & { clearance?: unknown };
              ctx.out(JSON.stringify(rest));
            } else ctx.out(line(o, lang));
          }
        } finally {
          await link.close().catch(() => undefined);
          await custody.close();
        }
        if (!opts.json) ctx.err(`${tally.accepted} accepted, ${tally.refused} refused`);
      });
    });
}
