import type { Command } from 'commander';
import { reconcileDay, type StationDay } from '../../station/reconcile.ts';
import { serialGaps } from '../../station/stock.ts';
import type { CliContext } from '../context.ts';
import { readStationDb } from './users.ts';

const COLUMNS: [keyof StationDay, string][] = [
  ['opening', 'opening'],
  ['received', 'received'],
  ['transferredIn', 'transfer in'],
  ['transferredOut', 'transfer out'],
  ['issued', 'issued'],
  ['spoiled', 'spoiled'],
  ['voided', 'voided'],
  ['refused', 'refused'],
  ['testConsumed', 'test-consumed'],
  ['lost', 'lost/stolen'],
  ['returned', 'returned'],
  ['closing', 'closing'],
];

export function register(program: Command, ctx: CliContext): void {
  const report = program.command('report').description('stock reports');

  report
    .command('reconcile')
    .description(
      "a day's booklet reconciliation per station; exits 1 if it does not balance or a booklet's events do not add up",
    )
    .requiredOption('--date <YYYY-MM-DD>', "the day, in the station's time zone")
    .option('--station <id>', 'only this station')
    .option('--full', "check every booklet's history, not only those moved that day (slow)")
    .option('--json', 'machine-readable output')
    .action((opts: { date: string; station?: string; full?: boolean; json?: boolean }) =>
      readStationDb(ctx, (db) => {
        const r = reconcileDay(db, opts.date, { stationId: opts.station, allBooklets: opts.full });
        if (!r.balanced) ctx.setExitCode(1);
        if (opts.json) return ctx.out(JSON.stringify(r));
        ctx.out(`reconciliation for ${r.date}: ${r.balanced ? 'BALANCED' : 'DOES NOT BALANCE'}`);
        if (!r.stations.length) ctx.out('no stock movements recorded up to this day');
        for (const s of r.stations) {
          ctx.out(`station ${s.stationId}`);
          for (const [k, label] of COLUMNS)
            ctx.out(`  ${label.padEnd(14)} ${String(s[k]).padStart(8)}`);
        }
        for (const m of r.flowMismatches)
          ctx.out(
            `ledger mismatch: ${m.stationId} ${m.category}: daily total ${m.ledger}, events ${m.events}`,
          );
        for (const d of r.discrepancies) ctx.out(`discrepancy: ${d.serial}: ${d.problem}`);
      }),
    );

  report
    .command('gaps')
    .description('holes in the serial numbering of each batch')
    .option('--batch <id>', 'only this batch')
    .option('--json', 'machine-readable output')
    .action((opts: { batch?: string; json?: boolean }) =>
      readStationDb(ctx, (db) => {
        const r = serialGaps(db, opts.batch);
        if (opts.json) return ctx.out(JSON.stringify(r));
        for (const b of r) {
          ctx.out(`batch ${b.batchId}: ${b.booklets} booklets`);
          for (const run of b.runs) {
            ctx.out(`  ${run.first}..${run.last}: ${run.present} present, ${run.missing} missing`);
            for (const g of run.gaps)
              ctx.out(
                `    missing ${g.from === g.to ? g.from : `${g.from}..${g.to}`} (${g.count})`,
              );
          }
        }
      }),
    );
}
