import type { Command } from 'commander';
import { EncoderClient } from '../../drivers/encoder.ts';
import { openSerialLink } from '../../drivers/open.ts';
import { PrinterClient } from '../../drivers/printer.ts';
import { recoverAsSupervisor } from '../../station/intake/recovery.ts';
import {
  listRecoveryDecisions,
  recoverPersonalizationJobs,
  recoverStation,
} from '../../station/personalization/recovery.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { openPersoKeys, recoveryLines } from '../perso-runner.ts';
import { login, readStationDb, withStationDb } from './users.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('recover')
    .description(
      'settle the intake and personalization jobs a stopped station process left unfinished (supervisor or admin); with --port it reads the booklet in the printer as evidence',
    )
    .option('--user <name>', 'supervisor or admin doing it (PIN from STATION_PIN or a prompt)')
    .option(
      '--port <path>',
      'serial port of the printer + encoder: settles jobs that wrote or printed',
    )
    .option('--list', 'show what recovery decided for personalization jobs (read-only)')
    .option('--json', 'machine-readable output')
    .action((opts: { user?: string; port?: string; list?: boolean; json?: boolean }) => {
      if (opts.list)
        return readStationDb(ctx, async (db) => {
          const who = await login(db, opts.user, ['supervisor', 'admin'], 'see recovery decisions');
          const rows = listRecoveryDecisions(db, who);
          if (opts.json) return ctx.out(JSON.stringify(rows));
          if (rows.length === 0) return ctx.out('recovery has settled no personalization job');
          for (const r of rows)
            ctx.out(
              `${r.at} job ${r.jobId} (${r.serial ?? 'no booklet'}, application ${r.applicationId ?? '-'}): ${r.status}: ${r.decision}`,
            );
        });
      // withStationDb takes the data directory's lock: no other station process is alive on
      // it while recovery runs, so every unfinished job of another session is a dead one's.
      return withStationDb(ctx, async (db) => {
        const who = await login(db, opts.user, ['supervisor', 'admin'], 'run recovery');
        const lock = ctx.lockStation();
        if (!opts.port) {
          const perso = await recoverPersonalizationJobs({ db, lock, actor: who });
          const r = recoverAsSupervisor(db, lock, who);
          const all = { personalization: perso, intake: r };
          if (opts.json) return ctx.out(JSON.stringify(all));
          const lines = recoveryLines({
            personalization: perso,
            intake: { interrupted: 0, released: 0, jobs: [] },
          });
          for (const j of r.jobs)
            lines.push(
              `job ${j.jobId} (${j.printedSerial ?? 'serial not read'}): ${j.was} -> ${j.now}` +
                `${j.bookletState ? `, booklet ${j.bookletState}` : ''}: ${j.decision}`,
            );
          if (lines.length === 0) return ctx.out('no unfinished intake jobs: nothing to recover');
          for (const l of lines) ctx.out(l);
          ctx.out(`recovered ${r.interrupted} interrupted and ${r.released} released intake jobs`);
          if (perso.pending.length > 0) ctx.setExitCode(1);
          return;
        }
        const keys = await openPersoKeys(ctx.dataDir(), 'production').catch((e: unknown) => {
          throw new CliError(e instanceof Error ? e.message : String(e));
        });
        const link = await openSerialLink(opts.port).catch(async (e: unknown) => {
          await keys.close();
          throw new CliError(e instanceof Error ? e.message : String(e));
        });
        try {
          const r = await recoverStation({
            db,
            lock,
            actor: who,
            devices: { printer: new PrinterClient(link), encoder: new EncoderClient(link) },
            dataKey: keys.dataKey,
            cscas: keys.cscas,
          });
          if (opts.json) return ctx.out(JSON.stringify(r));
          const lines = recoveryLines(r);
          if (lines.length === 0) return ctx.out('no unfinished jobs: nothing to recover');
          for (const l of lines) ctx.out(l);
          if (r.personalization.pending.length > 0) ctx.setExitCode(1);
        } finally {
          await link.close().catch(() => undefined);
          await keys.close();
        }
      });
    });
}
