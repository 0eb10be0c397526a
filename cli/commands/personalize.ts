import type { Command } from 'commander';
import { EncoderClient } from '../../drivers/encoder.ts';
import { openSerialLink } from '../../drivers/open.ts';
import { PrinterClient } from '../../drivers/printer.ts';
import { personalize, waitForStatusClear } from '../../station/personalization/job.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import {
  announcePause,
  formatPersoLine,
  openPersoKeys,
  persoJson,
  recoverWithDevice,
} from '../perso-runner.ts';
import { login, withStationDb } from './users.ts';

interface PersonalizeCliOpts {
  port: string;
  user?: string;
  application?: string;
  next?: boolean;
  count?: string;
  json?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('personalize')
    .description(
      'personalize passports headless: take an application, clear a booklet through intake, write and verify its chip, print and verify its data page, record the issuance',
    )
    .requiredOption('--port <path>', 'serial port of the printer + encoder')
    .option('--user <name>', 'operator or supervisor (PIN from STATION_PIN or a prompt)')
    .option('--application <id>', 'the application to personalize')
    .option('--next', 'the next application in the queue (the default)')
    .option('--count <n>', 'applications to personalize one after another (with --next)', '1')
    .option('--json', 'one JSON object per job')
    .action(async (opts: PersonalizeCliOpts) => {
      if (opts.application !== undefined && opts.next)
        throw new CliError('give --application <id> or --next, not both');
      const applicationId = opts.application === undefined ? undefined : Number(opts.application);
      if (
        applicationId !== undefined &&
        !(Number.isSafeInteger(applicationId) && applicationId > 0)
      )
        throw new CliError('--application must be a positive whole number');
      const count = Number(opts.count);
      if (!(Number.isInteger(count) && count > 0))
        throw new CliError('--count must be a positive whole number');
      if (applicationId !== undefined && count !== 1)
        throw new CliError('--count goes with --next, not with --application');
      await withStationDb(ctx, async (db) => {
        const actor = await login(db, opts.user, ['operator', 'supervisor'], 'personalize');
        const lock = ctx.lockStation();
        const keys = await openPersoKeys(ctx.dataDir(), 'production').catch((e: unknown) => {
          throw new CliError(e instanceof Error ? e.message : String(e));
        });
        let link;
        try {
          link = await openSerialLink(opts.port);
        } catch (e) {
          await keys.close();
          throw new CliError(e instanceof Error ? e.message : String(e));
        }
        const printer = new PrinterClient(link);
        const encoder = new EncoderClient(link);
        try {
          const rec = await recoverWithDevice(db, lock, actor, { printer, encoder }, keys);
          for (const l of rec.lines) ctx.err(l);
          let spoiled = 0;
          for (let i = 0; i < count; i++) {
            const o = await personalize({
              db,
              actor,
              printer,
              encoder,
              custody: keys.custody,
              dataKey: keys.dataKey,
              signer: keys.signer,
              ...(applicationId !== undefined ? { applicationId } : {}),
              waitForOperator: announcePause(ctx.err, waitForStatusClear(printer)),
            });
            ctx.out(opts.json ? persoJson(o) : formatPersoLine(o));
            if (o.outcome === 'no-application') break;
            if (o.outcome === 'spoiled' || o.outcome === 'returned') spoiled++;
            if ((o.outcome === 'spoiled' || o.outcome === 'returned') && o.ejectError) {
              ctx.err(
                'personalization stopped: a booklet is still in the printer; clear it, then run station recover',
              );
              ctx.setExitCode(1);
              break;
            }
          }
          if (spoiled > 0) ctx.setExitCode(1);
        } catch (e) {
          throw new CliError(e instanceof Error ? e.message : String(e));
        } finally {
          await link.close().catch(() => undefined);
          await keys.close();
        }
      });
    });
}
