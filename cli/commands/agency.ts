import type { Command } from 'commander';
import {
  addAgency,
  addChipProfile,
  listAgencies,
  setChipProfileAccepted,
} from '../../station/agencies.ts';
import { getStationIdentity } from '../../station/identity.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { login, readStationDb, withStationDb } from './users.ts';

export function register(program: Command, ctx: CliContext): void {
  const agency = program
    .command('agency')
    .description('agencies and the chip profiles they accept');

  agency
    .command('list')
    .description('list agencies with their chip profiles')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      readStationDb(ctx, (db) => {
        const ours = getStationIdentity(db).agencyCode;
        const list = listAgencies(db).map((a) => ({ ...a, ours: a.code === ours }));
        if (opts.json) return ctx.out(JSON.stringify(list));
        for (const a of list) {
          ctx.out(`${a.code}${a.ours ? ' (this station)' : ''}: ${a.name}`);
          for (const p of a.profiles)
            ctx.out(
              `  ${p.profileId}: ${p.chipOs}, applet ${p.appletVersion}, key version ${p.keyVersion}${p.accepted ? '' : ' [not accepted]'}`,
            );
        }
      }),
    );

  agency
    .command('add')
    .description('record an agency (admin)')
    .requiredOption('--code <code>', 'agency code, e.g. PER-RREE')
    .requiredOption('--name <name>', 'full name')
    .option('--user <name>', 'the admin doing it (PIN from STATION_PIN or a prompt)')
    .action((opts: { code: string; name: string; user?: string }) =>
      withStationDb(ctx, async (db) => {
        const admin = await login(db, opts.user, ['admin'], 'add agencies');
        addAgency(db, admin, opts.code, opts.name);
        ctx.out(`added agency ${opts.code}`);
      }),
    );

  agency
    .command('add-profile')
    .description('add a chip profile an agency accepts (admin)')
    .option('--agency <code>', 'the agency (default: this station’s)')
    .requiredOption('--profile <id>', 'chip profile id as written in manifests and chips')
    .requiredOption('--chip-os <name>', 'chip operating system and version')
    .requiredOption('--applet-version <v>', 'eMRTD applet version')
    .requiredOption('--key-version <n>', 'transport key version (0-255)')
    .option('--user <name>', 'the admin doing it')
    .option('--json', 'machine-readable output')
    .action(
      (opts: {
        agency?: string;
        profile: string;
        chipOs: string;
        appletVersion: string;
        keyVersion: string;
        user?: string;
        json?: boolean;
      }) =>
        withStationDb(ctx, async (db) => {
          if (!/^\d+$/.test(opts.keyVersion))
            throw new CliError(`--key-version ${opts.keyVersion} is not a number`);
          const admin = await login(db, opts.user, ['admin'], 'add chip profiles');
          const p = addChipProfile(db, admin, {
            agencyCode: opts.agency ?? getStationIdentity(db).agencyCode,
            profileId: opts.profile,
            chipOs: opts.chipOs,
            appletVersion: opts.appletVersion,
            keyVersion: Number(opts.keyVersion),
          });
          ctx.out(
            opts.json
              ? JSON.stringify(p)
              : `agency ${p.agencyCode} accepts chip profile ${p.profileId}`,
          );
        }),
    );

  for (const [cmd, accepted] of [
    ['withdraw-profile', false],
    ['accept-profile', true],
  ] as const) {
    agency
      .command(`${cmd} <profile>`)
      .description(
        accepted
          ? 'accept a withdrawn chip profile again (admin)'
          : 'stop accepting a chip profile (admin)',
      )
      .option('--agency <code>', 'the agency (default: this station’s)')
      .option('--user <name>', 'the admin doing it')
      .action((profile: string, opts: { agency?: string; user?: string }) =>
        withStationDb(ctx, async (db) => {
          const admin = await login(db, opts.user, ['admin'], 'change chip profiles');
          const code = opts.agency ?? getStationIdentity(db).agencyCode;
          setChipProfileAccepted(db, admin, code, profile, accepted);
          ctx.out(`${code} ${accepted ? 'accepts' : 'no longer accepts'} chip profile ${profile}`);
        }),
      );
  }
}
