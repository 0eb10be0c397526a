import type { Command } from 'commander';
import type { Db } from '../../db/open.ts';
import { auditKeyOf } from '../../station/audit.ts';
import { getStationIdentity } from '../../station/identity.ts';
import { auditPublicKeyPem } from '../../station/keys/audit-key.ts';
import { openSyncService as openStationSync } from '../../station/sync/open.ts';
import { KeyCustodyError } from '../../station/keys/errors.ts';
import {
  checkIssuanceAllowed,
  enrolStation,
  explainRemoteError,
  openOrCreateSyncKey,
  readSyncConfig,
  readSyncStatus,
  syncKeyId,
  SyncRemoteError,
  type SyncStatus,
} from '../../station/sync/index.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { login, readStationDb, withStationDb } from './users.ts';

function custody<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KeyCustodyError) throw new CliError(e.message);
    throw e;
  }
}

/** One line for the console and the status command. */
export function describeSyncStatus(s: SyncStatus): string {
  if (!s.enrolled) return 'sync: not enrolled with a central office (station sync enrol)';
  const parts = [
    `sync: ${s.connection} (${s.centralUrl})`,
    `last success ${s.lastSuccessAt ?? 'never'}`,
    `${s.waiting} record(s) waiting${s.oldestWaitingAt ? `, oldest ${s.oldestWaitingAt}` : ''}`,
  ];
  if (s.lastError && s.connection !== 'online') parts.push(`last error: ${s.lastError}`);
  return parts.join('; ');
}

/** A sync service for an enrolled station (station/sync/open.ts), custody errors said plainly. */
async function openSyncService(db: Db, dataDir: string, opts: { intervalMs?: number } = {}) {
  try {
    return await openStationSync(db, dataDir, opts);
  } catch (e) {
    if (e instanceof KeyCustodyError) throw new CliError(e.message);
    throw e;
  }
}

export function register(program: Command, ctx: CliContext): void {
  const sync = program
    .command('sync')
    .description('sync with the central office (docs/sync-station.md)');

  sync
    .command('enrol')
    .description(
      "enrol this station with a central office using a one-time code from its admin: sends the station's sync and audit public keys (admin)",
    )
    .requiredOption('--url <url>', 'the central office, e.g. http://127.0.0.1:8640')
    .requiredOption('--code <code>', 'the one-time enrolment code (XXXX-XXXX-XXXX-XXXX)')
    .requiredOption(
      '--supervisor <name>',
      'the supervisor on whose behalf pulled applications and stock are applied',
    )
    .option('--user <name>', 'the admin doing it (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action(
      (opts: { url: string; code: string; supervisor: string; user?: string; json?: boolean }) =>
        withStationDb(ctx, async (db) => {
          const { stationId } = getStationIdentity(db);
          const admin = await login(db, opts.user, ['admin'], 'enrol the station');
          const auditPem = custody(() => auditPublicKeyPem(auditKeyOf(db)));
          const key = custody(() => openOrCreateSyncKey(ctx.dataDir(), stationId));
          let r;
          try {
            r = await enrolStation(db, admin, {
              url: opts.url,
              code: opts.code,
              key,
              auditPublicKeyPem: auditPem,
              supervisor: opts.supervisor,
            });
          } catch (e) {
            if (e instanceof SyncRemoteError) throw new CliError(explainRemoteError(e));
            throw e;
          }
          const out = {
            stationId,
            centralUrl: readSyncConfig(db)?.centralUrl,
            centralKeyId: r.centralKeyId,
            stationKeyId: syncKeyId(key.publicKey),
            keyKind: key.kind,
          };
          ctx.out(
            opts.json
              ? JSON.stringify(out)
              : `station ${stationId} enrolled with ${out.centralUrl}; sync key ${out.stationKeyId} (${key.kind}); central office key ${r.centralKeyId}`,
          );
        }),
    );

  sync
    .command('status')
    .description(
      'online or offline, last success, records waiting, and whether issuance is allowed offline',
    )
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      readStationDb(ctx, (db) => {
        const s = readSyncStatus(db);
        const issuance = checkIssuanceAllowed(db);
        if (opts.json) return ctx.out(JSON.stringify({ ...s, issuance }));
        ctx.out(describeSyncStatus(s));
        ctx.out(
          issuance.ok
            ? `issuance: allowed${issuance.remaining ? ` (offline allowance left: ${issuance.remaining.hours.toFixed(1)} h, ${issuance.remaining.issuances} issuances)` : ''}`
            : `issuance: STOPPED (${issuance.limit}): ${issuance.message}; ${issuance.action}`,
        );
      }),
    );

  sync
    .command('run')
    .description(
      'run the sync loop in the foreground until interrupted (station start runs it by itself)',
    )
    .option('--once', 'one cycle (push, pull, retention), then exit; exit 1 if it failed')
    .option('--interval <ms>', 'pause between cycles', '30000')
    .action((opts: { once?: boolean; interval: string }) =>
      withStationDb(ctx, async (db) => {
        if (!/^\d+$/.test(opts.interval)) throw new CliError('--interval takes milliseconds');
        const opened = await openSyncService(db, ctx.dataDir(), {
          intervalMs: Number(opts.interval),
        });
        if (!opened) throw new CliError('this station is not enrolled: run station sync enrol');
        const { service, close } = opened;
        try {
          if (opts.once) {
            try {
              await service.runOnce();
            } catch {
              ctx.setExitCode(1);
            }
            ctx.out(describeSyncStatus(service.status()));
            return;
          }
          service.on('connection', (s) => ctx.out(describeSyncStatus(s)));
          service.start();
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
        } finally {
          await close();
        }
      }),
    );
}
