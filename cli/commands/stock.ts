import type { Command } from 'commander';
import {
  InputNotTextError,
  InputTooLargeError,
  readBoundedText,
} from '../../contracts/bounded-read.ts';
import { bookletHistory, listBooklets, lookupBooklet } from '../../station/booklets.ts';
import { writeAudit } from '../../station/audit.ts';
import { isBookletState, transitionMany, type BookletState } from '../../station/lifecycle.ts';
import {
  allocateStock,
  importManifest,
  listTrustedKeys,
  ManifestRefusedError,
  parseSerialSpec,
  revokeKey,
  trustKey,
} from '../../station/stock.ts';
import { manifestDigest, readManifestFile } from '../../station/manifest.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { login, readStationDb, withStationDb } from './users.ts';

/** A PEM public key is a few hundred bytes; more is not a key. */
const PEM_MAX_BYTES = 64 * 1024;

function readText(file: string, what: string): string {
  try {
    return what === 'manifest'
      ? readManifestFile(file)
      : readBoundedText(file, PEM_MAX_BYTES, `${what} ${file}`);
  } catch (e) {
    if (e instanceof InputTooLargeError || e instanceof InputNotTextError)
      throw new CliError(e.message);
    throw new CliError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

/** States a supervisor may put booklets in by hand from the command line. */
const MARKABLE: readonly BookletState[] = ['received', 'voided', 'lost_stolen', 'returned'];

export function register(program: Command, ctx: CliContext): void {
  const stock = program
    .command('stock')
    .description('booklet stock: manifests, allocation, booklets');

  const trust = stock
    .command('trust')
    .description('public keys whose manifests this station accepts');
  trust
    .command('add <pem-file>')
    .description('trust a manifest-signing public key (Ed25519 or ECDSA P-256, PEM) (admin)')
    .requiredOption('--label <text>', 'who signs with it, e.g. "central office 2026"')
    .option(
      '--agency <code>',
      "the agency whose manifests it may sign (default: the station's own)",
    )
    .option('--manufacturer <name>', 'the only manufacturer whose manifests it may sign')
    .option('--user <name>', 'the admin doing it (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action(
      (
        file: string,
        opts: {
          label: string;
          agency?: string;
          manufacturer?: string;
          user?: string;
          json?: boolean;
        },
      ) =>
        withStationDb(ctx, async (db) => {
          const pem = readText(file, 'key file');
          const admin = await login(db, opts.user, ['admin'], 'trust manifest keys');
          const k = trustKey(db, admin, pem, opts.label, {
            ...(opts.agency !== undefined ? { agency: opts.agency } : {}),
            ...(opts.manufacturer !== undefined ? { manufacturer: opts.manufacturer } : {}),
          });
          ctx.out(
            opts.json
              ? JSON.stringify(k)
              : `trusted ${k.algorithm} key ${k.keyId} (${k.label}) for manifests of ${k.agency}${k.manufacturer === null ? '' : ` from ${k.manufacturer}`}`,
          );
        }),
    );
  trust
    .command('list')
    .description('list trusted manifest keys')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      readStationDb(ctx, (db) => {
        const keys = listTrustedKeys(db);
        if (opts.json) return ctx.out(JSON.stringify(keys));
        for (const k of keys)
          ctx.out(
            `${k.keyId} ${k.algorithm} ${k.label} (signs ${k.agency}${k.manufacturer === null ? '' : ` from ${k.manufacturer}`})${k.revokedAt ? ` [revoked ${k.revokedAt}]` : ''}`,
          );
      }),
    );
  trust
    .command('revoke <key-id>')
    .description('stop trusting a key, for good (admin)')
    .option('--user <name>', 'the admin doing it')
    .action((keyId: string, opts: { user?: string }) =>
      withStationDb(ctx, async (db) => {
        const admin = await login(db, opts.user, ['admin'], 'revoke manifest keys');
        revokeKey(db, admin, keyId);
        ctx.out(`revoked ${keyId}`);
      }),
    );

  stock
    .command('import <manifest>')
    .description(
      'verify a signed stock manifest and receive all its booklets, or refuse it whole (supervisor)',
    )
    .option('--user <name>', 'the supervisor receiving it (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { user?: string; json?: boolean }) =>
      withStationDb(ctx, async (db) => {
        const text = readText(file, 'manifest');
        const who = await login(db, opts.user, ['supervisor'], 'import stock manifests');
        let r;
        try {
          r = importManifest(db, who, text);
        } catch (e) {
          // The refusal itself is worth keeping: who tried to bring in which file, and why not.
          if (e instanceof ManifestRefusedError)
            writeAudit(db, {
              actor: who,
              action: 'stock.import_refused',
              details: { file, sha256: manifestDigest(text), reason: e.reason, message: e.message },
            });
          throw e;
        }
        ctx.out(
          opts.json
            ? JSON.stringify(r)
            : `received batch ${r.batchId}: ${r.booklets} ${r.stockClass} booklets, profile ${r.chipProfile}`,
        );
      }),
    );

  stock
    .command('allocate')
    .description('allocate received booklets of a batch to a station (supervisor)')
    .requiredOption('--batch <id>', 'the batch')
    .requiredOption('--serials <spec>', 'serials and ranges, e.g. PE0000001-PE0000050,PE0000077')
    .option('--to-station <id>', 'the station (default: this one)')
    .option('--reason <text>', 'why (default: "allocated to <station>")')
    .option('--user <name>', 'the supervisor doing it')
    .option('--json', 'machine-readable output')
    .action(
      (opts: {
        batch: string;
        serials: string;
        toStation?: string;
        reason?: string;
        user?: string;
        json?: boolean;
      }) =>
        withStationDb(ctx, async (db) => {
          const serials = parseSerialSpec(opts.serials);
          const who = await login(db, opts.user, ['supervisor'], 'allocate stock');
          const r = allocateStock(db, who, {
            batchId: opts.batch,
            serials,
            toStation: opts.toStation,
            reason: opts.reason,
          });
          const station = r[0]?.toHolder;
          ctx.out(
            opts.json
              ? JSON.stringify({ batchId: opts.batch, station, allocated: r.map((x) => x.serial) })
              : `allocated ${r.length} booklets of ${opts.batch} to ${station}`,
          );
        }),
    );

  stock
    .command('mark <state>')
    .description(
      `put booklets in state ${MARKABLE.join(', ')} (supervisor): voided, lost or stolen, returned to the central office, or back from allocated to received`,
    )
    .requiredOption('--serials <spec>', 'serials and ranges')
    .requiredOption('--reason <text>', 'why (kept with each event)')
    .option('--user <name>', 'the supervisor doing it')
    .option('--json', 'machine-readable output')
    .action(
      (state: string, opts: { serials: string; reason: string; user?: string; json?: boolean }) =>
        withStationDb(ctx, async (db) => {
          if (!isBookletState(state) || !MARKABLE.includes(state))
            throw new CliError(
              `state ${state} cannot be set by hand; use one of ${MARKABLE.join(', ')}`,
            );
          const serials = parseSerialSpec(opts.serials);
          const who = await login(db, opts.user, ['supervisor'], `mark booklets ${state}`);
          const r = db.transaction(() => {
            const res = transitionMany(db, serials, { to: state, actor: who, reason: opts.reason });
            writeAudit(db, {
              actor: who,
              action: `stock.marked_${state}`,
              details: { serials, reason: opts.reason },
            });
            return res;
          })();
          ctx.out(opts.json ? JSON.stringify(r) : `marked ${r.length} booklets ${state}`);
        }),
    );

  stock
    .command('show <serial>')
    .description('show a booklet and its history')
    .option('--json', 'machine-readable output')
    .action((serial: string, opts: { json?: boolean }) =>
      readStationDb(ctx, (db) => {
        const b = lookupBooklet(db, serial);
        if (!b) throw new CliError(`no booklet with serial ${serial}`);
        const history = bookletHistory(db, serial);
        if (opts.json) return ctx.out(JSON.stringify({ ...b, history }));
        ctx.out(
          `${b.serial}: ${b.state} at ${b.holderStation} (${b.stockClass}), batch ${b.batchId}, ${b.agencyCode}/${b.profileId}, chip ${b.chipSerial}`,
        );
        for (const e of history)
          ctx.out(
            `  ${e.at} ${e.from ?? '-'} -> ${e.to} by ${e.actor} at ${e.stationId}: ${e.reason}`,
          );
      }),
    );

  stock
    .command('list')
    .description('list booklets')
    .option('--batch <id>', 'only this batch')
    .option('--state <state>', 'only this state')
    .option('--limit <n>', 'at most this many', '1000')
    .option('--json', 'machine-readable output')
    .action((opts: { batch?: string; state?: string; limit: string; json?: boolean }) =>
      readStationDb(ctx, (db) => {
        if (opts.state !== undefined && !isBookletState(opts.state))
          throw new CliError(`--state ${opts.state} is not a booklet state`);
        if (!/^\d+$/.test(opts.limit)) throw new CliError(`--limit ${opts.limit} is not a number`);
        const list = listBooklets(db, {
          batchId: opts.batch,
          state: opts.state as BookletState | undefined,
          limit: Number(opts.limit),
        });
        if (opts.json) return ctx.out(JSON.stringify(list));
        for (const b of list)
          ctx.out(`${b.serial} ${b.state.padEnd(13)} ${b.holderStation} ${b.batchId}`);
      }),
    );
}
