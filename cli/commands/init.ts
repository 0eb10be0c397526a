import type { Command } from 'commander';
import { LATEST_SCHEMA_VERSION, schemaVersion } from '../../db/open.ts';
import { getStationIdentity, initStation } from '../../station/identity.ts';
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
          const { identity, admin } = initStation(db, {
            stationId: opts.stationId,
            agencyCode: opts.agency,
            agencyName: opts.agencyName,
            adminUsername: opts.admin,
            adminSecret: secret,
            timeZone: opts.timeZone,
          });
          if (opts.json) ctx.out(JSON.stringify({ ...identity, admin: admin.username }));
          else
            ctx.out(
              `station ${identity.stationId} of ${identity.agencyCode} initialised (time zone ${identity.timeZone}); admin ${admin.username}`,
            );
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
