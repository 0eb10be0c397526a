import type { Command } from 'commander';
import { recoverAsSupervisor } from '../../station/intake/recovery.ts';
import type { CliContext } from '../context.ts';
import { login, withStationDb } from './users.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('recover')
    .description(
      'settle the intake jobs a stopped station process left unfinished (supervisor or admin); opens no device',
    )
    .option('--user <name>', 'supervisor or admin doing it (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action((opts: { user?: string; json?: boolean }) =>
      // withStationDb takes the data directory's lock: no other station process is alive on
      // it while recovery runs, so every unfinished job of another session is a dead one's.
      withStationDb(ctx, async (db) => {
        const who = await login(db, opts.user, ['supervisor', 'admin'], 'run recovery');
        const r = recoverAsSupervisor(db, ctx.lockStation(), who);
        if (opts.json) return ctx.out(JSON.stringify(r));
        if (r.jobs.length === 0) return ctx.out('no unfinished intake jobs: nothing to recover');
        for (const j of r.jobs)
          ctx.out(
            `job ${j.jobId} (${j.printedSerial ?? 'serial not read'}): ${j.was} -> ${j.now}` +
              `${j.bookletState ? `, booklet ${j.bookletState}` : ''}: ${j.decision}`,
          );
        ctx.out(`recovered ${r.interrupted} interrupted and ${r.released} released intake jobs`);
      }),
    );
}
