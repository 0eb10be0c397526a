/**
 * `station reconcile close`: the supervisor's close of the day (docs/ledger.md, "Closing the
 * day"), the same use case as the window's "Close the day" (station/day-close.ts): the day's
 * reconciliation is written into the audit log once. A day that does not balance is refused with
 * what is wrong; a day closed already is said and left as it is.
 */
import type { Command } from 'commander';
import { closeDay, DayAlreadyClosedError, DayNotBalancedError } from '../../station/day-close.ts';
import { getStationIdentity } from '../../station/identity.ts';
import { dayOf } from '../../station/time.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { login, withStationDb } from './users.ts';

export function register(program: Command, ctx: CliContext): void {
  const reconcile = program
    .command('reconcile')
    .description("the day's reconciliation at this station (the report: station report reconcile)");

  reconcile
    .command('close')
    .description(
      'close the day (supervisor): its reconciliation goes into the audit log, once; refused for a day to come or one that does not balance',
    )
    .option('--date <YYYY-MM-DD>', "the day, in the station's time zone (default: today)")
    .option('--user <name>', 'the supervisor closing it (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action((opts: { date?: string; user?: string; json?: boolean }) =>
      withStationDb(ctx, async (db) => {
        if (opts.date !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(opts.date))
          throw new CliError(
            `--date must be a day as YYYY-MM-DD, not ${JSON.stringify(opts.date)}`,
          );
        const who = await login(db, opts.user, ['supervisor'], 'close the day');
        const id = getStationIdentity(db);
        const today = dayOf(new Date(), id.timeZone);
        const date = opts.date ?? today;
        try {
          const r = closeDay(db, who, { stationId: id.stationId, date, today });
          ctx.out(
            opts.json
              ? JSON.stringify({ ...r, alreadyClosed: false })
              : `closed ${r.date} at station ${id.stationId}: closing stock ${r.closing}, by ${r.by} at ${r.at} (audit log: day.closed)`,
          );
        } catch (e) {
          if (e instanceof DayAlreadyClosedError) {
            // Closing twice changes nothing: said, and not an error for a script that repeats.
            const c = e.closed;
            ctx.out(
              opts.json
                ? JSON.stringify({ ...c, alreadyClosed: true })
                : `${c.date} was already closed by ${c.by} at ${c.at}: nothing written`,
            );
            return;
          }
          if (e instanceof DayNotBalancedError) {
            for (const m of e.flowMismatches)
              ctx.err(
                `ledger mismatch: ${m.stationId} ${m.category}: daily total ${m.ledger}, events ${m.events}`,
              );
            for (const d of e.discrepancies) ctx.err(`discrepancy: ${d.serial}: ${d.problem}`);
          }
          throw e;
        }
      }),
    );
}
