import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  backupDatabase,
  LATEST_SCHEMA_VERSION,
  migrateDatabase,
  openDatabase,
  pendingMigrations,
  schemaVersion,
  stationDbPath,
} from '../../db/open.ts';
import { writeAudit } from '../../station/audit.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { login, withStationDb } from './users.ts';

export function register(program: Command, ctx: CliContext): void {
  const db = program.command('db').description('the station database');

  db.command('status')
    .description('database file, schema version and pending migrations (changes nothing)')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const file = stationDbPath(ctx.dataDir());
      if (!existsSync(file)) {
        const s = {
          file,
          exists: false,
          schemaVersion: 0,
          latestSchemaVersion: LATEST_SCHEMA_VERSION,
        };
        return ctx.out(opts.json ? JSON.stringify(s) : `${file}: does not exist yet`);
      }
      const handle = openDatabase(file, { migrate: false });
      try {
        const s = {
          file,
          exists: true,
          schemaVersion: schemaVersion(handle),
          latestSchemaVersion: LATEST_SCHEMA_VERSION,
          pending: pendingMigrations(handle).map((m) => ({ version: m.version, name: m.name })),
          journalMode: handle.pragma('journal_mode', { simple: true }),
        };
        if (opts.json) return ctx.out(JSON.stringify(s));
        ctx.out(
          `${file}: schema ${s.schemaVersion} of ${s.latestSchemaVersion}, journal ${s.journalMode}`,
        );
        for (const p of s.pending) ctx.out(`  pending migration ${p.version}: ${p.name}`);
      } finally {
        handle.close();
      }
    });

  db.command('migrate')
    .description('apply pending migrations (opening the database does this too)')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      ctx.lockStation();
      const handle = openDatabase(stationDbPath(ctx.dataDir()), { migrate: false });
      try {
        const applied = migrateDatabase(handle);
        const v = schemaVersion(handle);
        ctx.out(
          opts.json
            ? JSON.stringify({ applied, schemaVersion: v })
            : applied.length
              ? `applied migrations ${applied.join(', ')}; schema ${v}`
              : `schema ${v} is current`,
        );
      } finally {
        handle.close();
      }
    });

  db.command('backup <file>')
    .description(
      'consistent online backup of the station database to a new file, mode 0600 (admin or supervisor)',
    )
    .option('--user <name>', 'who is doing it (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { user?: string; json?: boolean }) =>
      withStationDb(ctx, async (handle) => {
        const target = resolve(file);
        if (existsSync(target)) throw new CliError(`${target} exists already; choose a new file`);
        const who = await login(handle, opts.user, ['admin', 'supervisor'], 'back up the database');
        // Audit first, so the backup itself records who took it.
        writeAudit(handle, { actor: who, action: 'db.backup', details: { file: target } });
        let r;
        try {
          r = await backupDatabase(handle, target);
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          // backupDatabase writes a temporary file and links it to the target only when it is
          // complete: on failure the target was never made (and a file someone else made
          // there meanwhile is theirs), and the temporary file is gone.
          writeAudit(handle, {
            actor: who,
            action: 'db.backup_failed',
            details: { file: target, error: why },
          });
          throw new CliError(`backup to ${target} failed (${why}); no backup was made`);
        }
        ctx.out(
          opts.json
            ? JSON.stringify({ file: target, pages: r.pages })
            : `backed up to ${target} (${r.pages} pages)`,
        );
      }),
    );
}
