import type { Command } from 'commander';
import { EncoderClient } from '../../drivers/encoder.ts';
import { openSerialLink } from '../../drivers/open.ts';
import { PrinterClient } from '../../drivers/printer.ts';
import { recoverIntakeJobs } from '../../station/intake/recovery.ts';
import { STATION_LANGUAGES, type StationLanguage } from '../../station/intake/messages.ts';
import { openStationCustody } from '../../station/keys/station-custody.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { formatIntakeLine, intakeOutcomeJson, runIntake } from '../intake-runner.ts';
import { login, withStationDb } from './users.ts';

interface IntakeCliOpts {
  port: string;
  user?: string;
  count?: string;
  json?: boolean;
  testJob?: boolean;
  lang?: string;
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
        const recovered = recoverIntakeJobs(db, ctx.lockStation(), actor);
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
        let run;
        try {
          run = await runIntake({
            db,
            actor,
            printer,
            encoder,
            custody,
            jobKind,
            count,
            onOutcome: (o) => ctx.out(opts.json ? intakeOutcomeJson(o) : formatIntakeLine(o, lang)),
          });
        } catch (e) {
          throw new CliError(e instanceof Error ? e.message : String(e));
        } finally {
          await link.close().catch(() => undefined);
          await custody.close();
        }
        if (run.end === 'eject-failed') {
          ctx.err(
            'intake stopped: a refused booklet did not reach the reject tray and is still in the printer',
          );
          ctx.setExitCode(1);
        }
        if (run.end === 'hopper-empty' && count !== Infinity) ctx.err('the input hopper is empty');
        if (!opts.json) ctx.err(`${run.accepted} accepted, ${run.refused} refused`);
      });
    });
}
