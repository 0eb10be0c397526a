import type { Command } from 'commander';
import { listAudit, verifyAudit } from '../../station/audit.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { readStationDb } from './users.ts';

export function register(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('the hash-chained audit log');

  audit
    .command('verify')
    .description(
      'check the audit chain; names every edited, removed or reordered entry (exit 1 if any)',
    )
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      readStationDb(ctx, (db) => {
        const v = verifyAudit(db);
        if (!v.ok) ctx.setExitCode(1);
        if (opts.json) return ctx.out(JSON.stringify(v));
        if (v.ok) ctx.out(`audit log intact: ${v.entries} entries`);
        else {
          ctx.out(`audit log TAMPERED: ${v.problems.length} problem(s) in ${v.entries} entries`);
          for (const p of v.problems) ctx.out(`  ${p.message}`);
        }
      }),
    );

  audit
    .command('list')
    .description('show audit entries')
    .option('--after <seq>', 'entries after this number', '0')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'machine-readable output')
    .action((opts: { after: string; limit: string; json?: boolean }) =>
      readStationDb(ctx, (db) => {
        if (!/^\d+$/.test(opts.after) || !/^\d+$/.test(opts.limit))
          throw new CliError('--after and --limit take whole numbers');
        const list = listAudit(db, { afterSeq: Number(opts.after), limit: Number(opts.limit) });
        if (opts.json) return ctx.out(JSON.stringify(list));
        for (const e of list)
          ctx.out(
            `#${e.seq} ${e.at} ${e.actor}@${e.stationId} ${e.action} ${JSON.stringify(e.details)}`,
          );
      }),
    );
}
