import type { Command } from 'commander';
import { LATEST_SCHEMA_VERSION, schemaVersion } from '../../db/open.ts';
import { checkStationId, getStationIdentity, initStation } from '../../station/identity.ts';
import {
  auditKeyId as auditKeyIdOf,
  createAuditKey,
  openAuditKey,
  type AuditKey,
} from '../../station/keys/audit-key.ts';
import { KeyCustodyError } from '../../station/keys/errors.ts';
import { CliError } from '../errors.ts';
import type { CliContext } from '../context.ts';
import { readNewPin, readStationDb, withStationDb } from './users.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description(
      'give a new station its id and agency and create its first admin (PIN from STATION_NEW_PIN or a prompt)',
    )
    .requiredOption('--station-id <id>', 'this station, e.g. LIM-AIR-01')
    .requiredOption('--agency <code>', 'the agency the station belongs to, e.g. PER-MIGRACIONES')
    .option('--agency-name <name>', "the agency's full name")
    .requiredOption('--admin <name>', 'user name of the first admin')
    .option('--time-zone <tz>', 'IANA time zone for daily reconciliation (default: this computer)')
    .option('--json', 'machine-readable output')
    .action(
      (opts: {
        stationId: string;
        agency: string;
        agencyName?: string;
        admin: string;
        timeZone?: string;
        json?: boolean;
      }) =>
        withStationDb(ctx, async (db) => {
          const secret = await readNewPin(opts.admin);
          if (db.prepare('SELECT 1 FROM station WHERE id = 1').get())
            throw new CliError(
              `this station is initialised already (${getStationIdentity(db).stationId})`,
            );
          checkStationId(opts.stationId);
          // The station audit key signs every audit entry from the first one on: it is
          // generated in the configured key custody before the station is written (an init
          // retried after a failure finds the key it generated).
          let auditKey;
          try {
            auditKey = stationAuditKey(ctx.dataDir(), opts.stationId);
          } catch (e) {
            if (e instanceof KeyCustodyError)
              throw new CliError(`${e.message} (key custody comes before 'station init')`);
            throw e;
          }
          const { identity, admin } = initStation(db, {
            stationId: opts.stationId,
            agencyCode: opts.agency,
            agencyName: opts.agencyName,
            adminUsername: opts.admin,
            adminSecret: secret,
            timeZone: opts.timeZone,
          });
          const auditKeyId = auditKeyIdOf(auditKey.publicKey);
          if (opts.json)
            ctx.out(JSON.stringify({ ...identity, admin: admin.username, auditKeyId }));
          else {
            ctx.out(
              `station ${identity.stationId} of ${identity.agencyCode} initialised (time zone ${identity.timeZone}); admin ${admin.username}`,
            );
            ctx.out(
              `audit key ${auditKeyId} (${auditKey.kind}): give the central office its public key ('station audit public-key')`,
            );
          }
        }),
    );

  program
    .command('info')
    .description("show this station's id, agency, time zone and database version")
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      readStationDb(ctx, (db) => {
        const id = getStationIdentity(db);
        const info = {
          ...id,
          schemaVersion: schemaVersion(db),
          latestSchemaVersion: LATEST_SCHEMA_VERSION,
        };
        if (opts.json) return ctx.out(JSON.stringify(info));
        ctx.out(`station:   ${id.stationId}`);
        ctx.out(`agency:    ${id.agencyCode}`);
        ctx.out(`time zone: ${id.timeZone}`);
        ctx.out(`schema:    ${info.schemaVersion}`);
      }),
    );
}

/** The audit key of a station being initialised: the one custody holds for it already (an
 * init retried), else a new one. */
function stationAuditKey(dataDir: string, stationId: string): AuditKey {
  try {
    return openAuditKey(dataDir, stationId);
  } catch (e) {
    if (e instanceof KeyCustodyError && e.code === 'AUDIT_KEY_MISSING')
      return createAuditKey(dataDir, stationId);
    throw e;
  }
}
