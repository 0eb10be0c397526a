import type { Command } from 'commander';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Db } from '../../db/open.ts';
import {
  ApplicationRefusedError,
  cancel,
  createStationDataKey,
  hold,
  importApplication,
  listQueue,
  MAX_APPLICATION_BYTES,
  openStationDataKey,
  release,
  showApplication,
  type QueueEntry,
} from '../../station/applications/index.ts';
import { writeAudit } from '../../station/audit.ts';
import type { ApplicationDataKey } from '../../station/keys/data-key.ts';
import { KeyCustodyError } from '../../station/keys/errors.ts';
import type { Actor } from '../../station/users.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { login, withStationDb } from './users.ts';

// Personal data is printed only by `show`, to a signed-in supervisor; every other command
// prints ids and states. The data key's PIN or passphrase comes from the environment variable
// the key custody configuration names, never from arguments.

async function withDataKey<T>(ctx: CliContext, fn: (keys: ApplicationDataKey) => T): Promise<T> {
  let keys: ApplicationDataKey;
  try {
    keys = await openStationDataKey(ctx.dataDir());
  } catch (e) {
    if (e instanceof KeyCustodyError) throw new CliError(e.message);
    throw e;
  }
  try {
    return fn(keys);
  } finally {
    await keys.close();
  }
}

function parseId(value: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(value))
    throw new CliError(`application id ${JSON.stringify(value)} is not a positive integer`);
  return Number(value);
}

function readApplicationText(file: string): string {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    throw new CliError(
      `cannot read the application ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (size > MAX_APPLICATION_BYTES)
    throw new CliError(
      `the application ${file} is ${size} bytes; at most ${MAX_APPLICATION_BYTES} are accepted; nothing was imported`,
    );
  return readFileSync(file, 'utf8');
}

function line(e: QueueEntry): string {
  const extra = [
    e.takenBy ? `taken by ${e.takenBy} at ${e.takenAt}` : '',
    e.documentNumber ? `document ${e.documentNumber}` : '',
  ].filter(Boolean);
  return `${String(e.id).padStart(6)}  ${e.status.padEnd(12)} ${e.documentCode.padEnd(2)} ${e.issuingState.padEnd(3)}  received ${e.receivedAt}${extra.length ? '  ' + extra.join(', ') : ''}`;
}

/** `station keys data-key create`: registered by cli/commands/keys.ts under `keys`. */
export function registerDataKeyCommand(keys: Command, ctx: CliContext): void {
  keys
    .command('data-key')
    .description('the application data key that seals personal data at rest')
    .command('create')
    .description(
      'create the application data key in the configured custody: generated inside the PKCS#11 token, or a development file (admin)',
    )
    .option('--user <name>', 'the admin doing it (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action((opts: { user?: string; json?: boolean }) =>
      withStationDb(ctx, async (db) => {
        const admin = await login(db, opts.user, ['admin'], 'create the application data key');
        let info;
        try {
          info = await createStationDataKey(db, admin, ctx.dataDir());
        } catch (e) {
          if (e instanceof KeyCustodyError) throw new CliError(e.message);
          throw e;
        }
        ctx.out(
          opts.json
            ? JSON.stringify(info)
            : `created the application data key ${info.label} in ${info.where}`,
        );
      }),
    );
}

export function register(program: Command, ctx: CliContext): void {
  const apps = program
    .command('applications')
    .description('the queue of approved applications, sealed at rest (docs/applications.md)');

  apps
    .command('import <file>')
    .description(
      'validate an application file (docs/application-format.md, without documentNumber) and its images, and queue it sealed, or refuse it whole (supervisor)',
    )
    .option('--user <name>', 'the supervisor importing it (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { user?: string; json?: boolean }) =>
      withStationDb(ctx, async (db) => {
        const path = resolve(file);
        const text = readApplicationText(path);
        const who = await login(db, opts.user, ['supervisor'], 'import applications');
        await withDataKey(ctx, (keys) => {
          let r;
          try {
            r = importApplication(db, keys, who, text, dirname(path));
          } catch (e) {
            if (e instanceof ApplicationRefusedError) {
              // The refusal is kept: who tried which file, and which fields (never their values).
              writeAudit(db, {
                actor: who,
                action: 'application.import_refused',
                details: { file: path, fields: e.errors.map((x) => x.field) },
              });
              if (opts.json) ctx.out(JSON.stringify({ errors: e.errors }));
              for (const x of e.errors)
                ctx.err(
                  `${x.field}: ${x.reason}${x.value !== '' ? ` (got ${JSON.stringify(x.value)})` : ''}`,
                );
              throw new CliError('the application is refused; nothing was imported');
            }
            throw e;
          }
          ctx.out(opts.json ? JSON.stringify(r) : `queued application ${r.id}`);
        });
      }),
    );

  apps
    .command('list')
    .description('the queue: ids, states and times, no personal data (operator, supervisor)')
    .option('--all', 'also personalized and cancelled applications')
    .option('--user <name>', 'who is asking (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action((opts: { all?: boolean; user?: string; json?: boolean }) =>
      withStationDb(ctx, async (db) => {
        const who = await login(
          db,
          opts.user,
          ['operator', 'supervisor'],
          'see the application queue',
        );
        const list = listQueue(db, who, { all: opts.all });
        if (opts.json) return ctx.out(JSON.stringify(list));
        if (list.length === 0) ctx.out('no applications');
        for (const e of list) ctx.out(line(e));
      }),
    );

  const moves: [string, string, string, (db: Db, a: Actor, id: number) => QueueEntry][] = [
    ['hold', 'put a queued application on hold: the queue passes over it', 'held', hold],
    ['release', 'put an application on hold back in the queue', 'released', release],
    [
      'cancel',
      'cancel a queued or held application for good, erasing its personal data',
      'cancelled',
      cancel,
    ],
  ];
  for (const [name, description, done, fn] of moves)
    apps
      .command(`${name} <id>`)
      .description(`${description} (supervisor)`)
      .option('--user <name>', 'the supervisor doing it')
      .option('--json', 'machine-readable output')
      .action((id: string, opts: { user?: string; json?: boolean }) =>
        withStationDb(ctx, async (db) => {
          const n = parseId(id);
          const who = await login(db, opts.user, ['supervisor'], `${name} applications`);
          const e = fn(db, who, n);
          ctx.out(opts.json ? JSON.stringify(e) : `${done} application ${e.id}: ${e.status}`);
        }),
      );

  apps
    .command('show <id>')
    .description(
      'one application with its personal data while the station holds it (supervisor; the viewing is audited)',
    )
    .option('--user <name>', 'the supervisor asking')
    .option('--json', 'machine-readable output')
    .action((id: string, opts: { user?: string; json?: boolean }) =>
      withStationDb(ctx, async (db) => {
        const n = parseId(id);
        const who = await login(
          db,
          opts.user,
          ['supervisor'],
          "see an application's personal data",
        );
        const shown = await withDataKey(ctx, (keys) => showApplication(db, keys, who, n));
        if (opts.json) return ctx.out(JSON.stringify(shown));
        ctx.out(line(shown));
        if (!shown.details) return ctx.out('personal data: erased (the application is final)');
        for (const [k, v] of Object.entries(shown.details))
          ctx.out(`  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
        ctx.out(`  face: ${shown.face?.bytes ?? 0} bytes`);
        ctx.out(`  signature: ${shown.signature ? `${shown.signature.bytes} bytes` : 'none'}`);
      }),
    );
}
