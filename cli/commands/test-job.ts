import type { Command } from 'commander';
import { EncoderClient } from '../../drivers/encoder.ts';
import { openSerialLink } from '../../drivers/open.ts';
import { PrinterClient } from '../../drivers/printer.ts';
import type { TestPatternKind } from '../../drivers/protocol.ts';
import { waitForStatusClear } from '../../station/personalization/job.ts';
import {
  dryRunJob,
  encoderSelfTest,
  TEST_JOB_KINDS,
  testPatternJob,
  type TestJobKind,
} from '../../station/personalization/test-jobs.ts';
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

export function register(program: Command, ctx: CliContext): void {
  program
    .command('test-job')
    .description(
      `technician test jobs: ${TEST_JOB_KINDS.join(', ')} (dry-run: a TEST booklet personalized with specimen data and the TEST Document Signer)`,
    )
    .argument('<kind>', TEST_JOB_KINDS.join(' | '))
    .requiredOption('--port <path>', 'serial port of the printer + encoder')
    .option('--user <name>', 'technician (PIN from STATION_PIN or a prompt)')
    .option('--pattern <kind>', 'test pattern: nozzle, alignment, colour-bars', 'nozzle')
    .option('--json', 'machine-readable output')
    .action(
      async (
        kind: string,
        opts: { port: string; user?: string; pattern: string; json?: boolean },
      ) => {
        if (!(TEST_JOB_KINDS as readonly string[]).includes(kind))
          throw new CliError(`unknown test job "${kind}": ${TEST_JOB_KINDS.join(', ')}`);
        await withStationDb(ctx, async (db) => {
          const actor = await login(db, opts.user, ['technician'], 'run test jobs');
          let link;
          try {
            link = await openSerialLink(opts.port);
          } catch (e) {
            throw new CliError(e instanceof Error ? e.message : String(e));
          }
          const printer = new PrinterClient(link);
          const encoder = new EncoderClient(link);
          try {
            if ((kind as TestJobKind) === 'test-pattern') {
              const r = await testPatternJob(
                { db, actor, printer },
                opts.pattern as TestPatternKind,
              );
              ctx.out(
                opts.json
                  ? JSON.stringify(r)
                  : `test pattern ${opts.pattern}: ${r.passed ? 'printed' : `FAILED (${String(r.detail.answer)})`} (result ${r.resultId})`,
              );
              if (!r.passed) ctx.setExitCode(1);
            } else if (kind === 'encoder-self-test') {
              const r = await encoderSelfTest({ db, actor, encoder });
              ctx.out(
                opts.json
                  ? JSON.stringify(r)
                  : `encoder self-test: ${r.passed ? 'passed' : 'FAILED'} (result ${r.resultId})`,
              );
              if (!r.passed) ctx.setExitCode(1);
            } else {
              const keys = await openPersoKeys(ctx.dataDir(), 'test');
              try {
                const rec = await recoverWithDevice(
                  db,
                  ctx.lockStation(),
                  actor,
                  { printer, encoder },
                  keys,
                );
                for (const l of rec.lines) ctx.err(l);
                const o = await dryRunJob({
                  db,
                  actor,
                  printer,
                  encoder,
                  custody: keys.custody,
                  dataKey: keys.dataKey,
                  signer: keys.signer,
                  ...(keys.cscas.production ? { productionCscaPem: keys.cscas.production } : {}),
                  waitForOperator: announcePause(ctx.err, waitForStatusClear(printer)),
                });
                ctx.out(opts.json ? persoJson(o) : formatPersoLine(o));
                if (o.outcome !== 'test_passed') ctx.setExitCode(1);
              } finally {
                await keys.close();
              }
            }
          } catch (e) {
            throw new CliError(e instanceof Error ? e.message : String(e));
          } finally {
            await link.close().catch(() => undefined);
          }
        });
      },
    );
}
