import type { Command } from 'commander';
import type { Db } from '../../db/open.ts';
import { openStationDb } from '../../station/identity.ts';
import { KeyCustodyError, openStationPinPepper } from '../../station/keys/index.ts';
import {
  authenticateWithRole,
  createUser,
  disableUser,
  isRole,
  listUsers,
  pinPepperLabel,
  ROLES,
  setUserSecret,
  unlockUser,
  usePinPepper,
  type Actor,
  type Role,
} from '../../station/users.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';

/**
 * When the station's PINs are peppered by its key custody (station/users.ts), opens that
 * custody's pepper and attaches it to `db`; returns what closes it (undefined: nothing to do).
 */
export async function attachPinPepper(
  db: Db,
  dataDir: string,
): Promise<(() => Promise<void>) | undefined> {
  if (pinPepperLabel(db) === undefined) return undefined;
  let open;
  try {
    open = await openStationPinPepper(dataDir);
  } catch (e) {
    if (e instanceof KeyCustodyError)
      throw new CliError(
        `this station's PINs need the PIN pepper of its key custody: ${e.message}`,
      );
    throw e;
  }
  usePinPepper(db, open.pepper);
  return async () => {
    usePinPepper(db, undefined);
    await open.close();
  };
}

/**
 * For a command that writes: takes the data directory's lock (ctx.lockStation: a second
 * station process is refused here, naming the holder), opens the station database, runs fn,
 * closes it.
 */
export async function withStationDb<T>(
  ctx: CliContext,
  fn: (db: Db) => T | Promise<T>,
): Promise<T> {
  ctx.lockStation();
  return readStationDb(ctx, fn);
}

/**
 * For a read-only command (lists, reports, `audit verify`): opens the station database
 * without the lock, so it works beside a running station. It must not write; every station
 * write is an immediate transaction, and reads never wait for one (WAL).
 */
export async function readStationDb<T>(
  ctx: CliContext,
  fn: (db: Db) => T | Promise<T>,
): Promise<T> {
  const db = openStationDb(ctx.dataDir());
  try {
    const closePepper = await attachPinPepper(db, ctx.dataDir());
    try {
      return await fn(db);
    } finally {
      await closePepper?.();
    }
  } finally {
    db.close();
  }
}

/** Reads a secret without echo from the terminal. */
async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY)
    throw new CliError('no PIN given: set STATION_PIN (or STATION_NEW_PIN) or run in a terminal');
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('cancelled', 130));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** The acting user's PIN: STATION_PIN, else a hidden prompt. */
export async function readPin(username: string): Promise<string> {
  return process.env.STATION_PIN ?? promptHidden(`PIN for ${username}: `);
}

/** A new user's PIN: STATION_NEW_PIN, else asked twice at the terminal. */
export async function readNewPin(username: string): Promise<string> {
  if (process.env.STATION_NEW_PIN !== undefined) return process.env.STATION_NEW_PIN;
  const a = await promptHidden(`new PIN for ${username}: `);
  const b = await promptHidden(`repeat the new PIN: `);
  if (a !== b) throw new CliError('the two PINs differ');
  return a;
}

/**
 * Authenticates `--user` with their PIN and checks the role (the role is checked again by
 * the use case itself).
 */
export async function login(
  db: Db,
  username: string | undefined,
  roles: readonly Role[],
  action: string,
): Promise<Actor> {
  if (!username) throw new CliError(`--user <name> is required to ${action}`);
  return authenticateWithRole(db, username, await readPin(username), roles, action);
}

export function register(program: Command, ctx: CliContext): void {
  const users = program.command('users').description('station users, roles and PINs');

  users
    .command('list')
    .description('list users with role and lock status')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      readStationDb(ctx, (db) => {
        const list = listUsers(db);
        if (opts.json) return ctx.out(JSON.stringify(list));
        for (const u of list)
          ctx.out(
            `${u.username.padEnd(20)} ${u.role}${u.locked ? ' LOCKED' : ''}${u.disabled ? ' DISABLED' : ''}`,
          );
      }),
    );

  users
    .command('add <name>')
    .description('create a user (admin); the new PIN comes from STATION_NEW_PIN or a prompt')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--user <name>', 'the admin doing it (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action((name: string, opts: { role: string; user?: string; json?: boolean }) =>
      withStationDb(ctx, async (db) => {
        if (!isRole(opts.role))
          throw new CliError(`--role ${opts.role} is not one of ${ROLES.join(', ')}`);
        const admin = await login(db, opts.user, ['admin'], 'create users');
        const u = createUser(db, admin, {
          username: name,
          role: opts.role,
          secret: await readNewPin(name),
        });
        ctx.out(opts.json ? JSON.stringify(u) : `created ${u.username} (${u.role})`);
      }),
    );

  for (const [cmd, desc, fn] of [
    ['unlock', 'unlock a user locked after failed attempts (admin)', unlockUser],
    ['disable', 'disable a user for good (admin)', disableUser],
  ] as const) {
    users
      .command(`${cmd} <name>`)
      .description(desc)
      .option('--user <name>', 'the admin doing it')
      .action((name: string, opts: { user?: string }) =>
        withStationDb(ctx, async (db) => {
          const admin = await login(db, opts.user, ['admin'], `${cmd} users`);
          fn(db, admin, name);
          ctx.out(`${cmd === 'unlock' ? 'unlocked' : 'disabled'} ${name}`);
        }),
      );
  }

  users
    .command('set-pin <name>')
    .description(
      "change a PIN (your own, or anyone's as admin); new PIN from STATION_NEW_PIN or a prompt",
    )
    .option('--user <name>', 'who is doing it (default: <name>)')
    .action((name: string, opts: { user?: string }) =>
      withStationDb(ctx, async (db) => {
        const by = await login(db, opts.user ?? name, ROLES, 'change a PIN');
        setUserSecret(db, by, name, await readNewPin(name));
        ctx.out(`PIN changed for ${name}`);
      }),
    );
}
