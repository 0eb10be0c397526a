/**
 * `station start`: the console driver of the station core (station/core). It opens the station
 * through the core, signs the user in with the PIN from STATION_PIN or a hidden prompt, prints
 * a summary and runs one command a line from stdin; every decision is the core's.
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { STATION_LANGUAGES, type StationLanguage } from '../../station/intake/messages.ts';
import { describeEvent, describeStatus } from '../../station/core/device-words.ts';
import { checkCanStart, enterDevelopmentMode, openStation } from '../../station/core/open.ts';
import type { StationCore } from '../../station/core/station-core.ts';
import { reconcileDay } from '../../station/reconcile.ts';
import { dayOf } from '../../station/time.ts';
import { listUsers } from '../../station/users.ts';
import type { CliContext } from '../context.ts';
import { localCentralFor } from '../local-central-option.ts';
import { CliError } from '../errors.ts';
import { formatIntakeLine } from '../intake-runner.ts';
import { announcePause, formatPersoLine, recoveryLines } from '../perso-runner.ts';
import { waitForStatusClear } from '../../station/personalization/job.ts';
import { describeSyncStatus } from './sync.ts';
import { DEFAULT_SCENARIO, developmentDevices } from '../development-devices.ts';
import { readPin } from './users.ts';

export { DEFAULT_SCENARIO };

interface StartOpts {
  port?: string;
  scenario?: string;
  user?: string;
  lang: string;
  dev?: boolean;
  withCentral?: string | boolean;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const HELP = [
  'intake [n]       take the next n booklets (default 1) through intake',
  'personalize [n]  personalize the next n applications (default 1)',
  'status           device status, stock on hand, sync and this session',
  "reconcile        today's stock reconciliation for this station",
  'lang es|en       language of the operator messages',
  'help             this list',
  'quit             close the station (also end of input or Ctrl-C)',
];

function printStock(ctx: CliContext, core: StationCore): void {
  const stock = core.stock();
  const parts = Object.entries(stock.byState).map(([state, n]) => `${state} ${n}`);
  ctx.out(`stock on hand: ${stock.onHand} (${parts.join(', ')})`);
}

function printReconciliation(ctx: CliContext, core: StationCore): void {
  const id = core.identity;
  const day = dayOf(new Date(), id.timeZone);
  const r = reconcileDay(core.db, day, { stationId: id.stationId });
  ctx.out(`reconciliation for ${r.date}: ${r.balanced ? 'BALANCED' : 'DOES NOT BALANCE'}`);
  const s = r.stations.find((x) => x.stationId === id.stationId);
  if (!s) ctx.out('no stock movements recorded at this station up to today');
  else
    ctx.out(
      `  opening ${s.opening}, received ${s.received}, transfer in ${s.transferredIn}, transfer out ${s.transferredOut}, ` +
        `issued ${s.issued}, spoiled ${s.spoiled}, voided ${s.voided}, refused ${s.refused}, ` +
        `test-consumed ${s.testConsumed}, lost/stolen ${s.lost}, returned ${s.returned}, closing ${s.closing}`,
    );
  for (const m of r.flowMismatches)
    ctx.out(
      `  ledger mismatch: ${m.stationId} ${m.category}: daily total ${m.ledger}, events ${m.events}`,
    );
  for (const d of r.discrepancies) ctx.out(`  discrepancy: ${d.serial}: ${d.problem}`);
}

async function start(ctx: CliContext, opts: StartOpts): Promise<void> {
  if (!STATION_LANGUAGES.includes(opts.lang as StationLanguage))
    throw new CliError(`--lang must be one of ${STATION_LANGUAGES.join(', ')}`);
  const dataDir = ctx.dataDir();
  for (const line of enterDevelopmentMode(opts.dev)) ctx.out(line);
  checkCanStart(dataDir, opts.port, { localCentral: opts.withCentral !== undefined });
  // Before any device, simulator or database: a second station process stops here.
  const lock = ctx.lockStation();
  const core = await openStation({
    dataDir,
    lock,
    ...(opts.withCentral !== undefined
      ? { localCentral: await localCentralFor(opts.withCentral, dataDir) }
      : {}),
    ...(opts.port ? { port: opts.port } : {}),
    ...(opts.scenario ? { scenario: opts.scenario } : {}),
    development: developmentDevices,
    lang: opts.lang as StationLanguage,
    // The console has its own session: it never locks while the console runs.
    lockAfterMs: Infinity,
    note: ctx.out,
    log: ctx.err,
  });
  try {
    await consoleSession(ctx, core, opts);
  } finally {
    await core.close(ctx.err);
  }
}

async function consoleSession(ctx: CliContext, core: StationCore, opts: StartOpts): Promise<void> {
  const development = core.development;
  if (development) {
    const users = listUsers(core.db).filter((u) => !u.disabled);
    ctx.out(
      `development users: ${users.map((u) => `${u.username} (${u.role})`).join(', ')}; their PINs are in simulator/seed.ts`,
    );
  }
  const username = opts.user ?? (development ? 'operator' : undefined);
  if (!username) throw new CliError('--user <name> is required to start the station');
  const { session, recovered } = core.signIn(username, await readPin(username));
  if (recovered && recovered.interrupted + recovered.released > 0)
    ctx.out(
      `recovered ${recovered.interrupted} interrupted and ${recovered.released} unfinished intake jobs`,
    );
  // Personalization jobs a dead process left are settled from the booklet in the printer.
  const recovery = await core.recoverJobs();
  if (recovery) for (const l of recoveryLines(recovery)) ctx.out(l);
  const unavailable = core.personalizationUnavailable;
  if (unavailable) ctx.err(`personalization is not available: ${unavailable}`);

  let deviceStatus;
  try {
    deviceStatus = await core.printerStatus();
  } catch (e) {
    throw new CliError(`the device (${core.deviceSource}) does not answer: ${message(e)}`);
  }
  const id = core.identity;
  const station = core.stationSummary();
  ctx.out(
    `station ${id.stationId} of ${id.agencyCode} (${station.agencyName})${development ? ' [development]' : ''}`,
  );
  ctx.out(
    `user: ${session.username} (${session.role})${core.jobKind === 'test' ? ': test jobs on test stock only' : ''}`,
  );
  printStock(ctx, core);
  const d = core.deviceIdentity;
  ctx.out(
    `device: ${d.model} ${d.firmware}, serial ${d.serialNumber} (${d.kind}) via ${core.deviceSource}`,
  );
  ctx.out(`device status: ${describeStatus(deviceStatus)}`);
  ctx.out(`data directory: ${core.dataDir}`);
  // Sync runs by itself in the core when the station is enrolled; its changes are said here.
  ctx.out(describeSyncStatus(core.syncDetail()));
  const offSync = core.onSyncChange((st) => ctx.out(describeSyncStatus(st)));
  ctx.out('type "help" for the commands');

  let stopping = false;
  let busy = false;
  const offDevice = core.onDeviceEvent((ev) => ctx.out(`device: ${describeEvent(ev, core.lang)}`));
  const onLinkClose = (info: { disconnected?: boolean }): void => {
    if (!stopping)
      ctx.err(
        `the device link closed${info.disconnected ? ' (device disconnected)' : ''}: quit and start again`,
      );
  };
  core.link.on('close', onLinkClose);

  const tty = process.stdin.isTTY === true;
  // On a terminal, readline echoes what is typed and shows the prompt.
  const rl = createInterface({
    input: process.stdin,
    ...(tty ? { output: process.stdout, terminal: true } : { terminal: false }),
  });
  const onInterrupt = (): void => {
    if (busy) ctx.err('stopping after the current booklet');
    stopping = true;
    rl.close();
  };
  rl.on('SIGINT', onInterrupt);
  process.on('SIGINT', onInterrupt);
  const session_ = { accepted: 0, refused: 0 };
  try {
    if (tty) {
      rl.setPrompt('station> ');
      rl.prompt();
    }
    for await (const raw of rl) {
      if (stopping) break;
      const [cmd, ...args] = raw.trim().split(/\s+/);
      if (!cmd) {
        if (tty) rl.prompt();
        continue;
      }
      busy = true;
      try {
        if (cmd === 'quit' || cmd === 'exit') break;
        else if (cmd === 'help') for (const l of HELP) ctx.out(l);
        else if (cmd === 'lang') {
          const l = args[0] as StationLanguage;
          if (!STATION_LANGUAGES.includes(l))
            ctx.err(`lang: choose one of ${STATION_LANGUAGES.join(', ')}`);
          else {
            core.lang = l;
            ctx.out(`language: ${l}`);
          }
        } else if (cmd === 'status') {
          ctx.out(`device status: ${describeStatus(await core.printerStatus())}`);
          printStock(ctx, core);
          ctx.out(describeSyncStatus(core.syncDetail()));
          ctx.out(`this session: ${session_.accepted} accepted, ${session_.refused} refused`);
        } else if (cmd === 'reconcile') printReconciliation(ctx, core);
        else if (cmd === 'intake') {
          const n = args[0] === undefined ? 1 : Number(args[0]);
          if (!Number.isInteger(n) || n < 1 || args.length > 1)
            ctx.err('intake: give the number of booklets as a positive whole number');
          else {
            const run = await core.intake(n, {
              onOutcome: (o) => ctx.out(formatIntakeLine(o, core.lang)),
              shouldStop: () => stopping,
            });
            session_.accepted += run.accepted;
            session_.refused += run.refused;
            if (run.end === 'hopper-empty') ctx.out('the input hopper is empty');
            if (run.end === 'eject-failed')
              ctx.out(
                'intake stopped: a refused booklet is still in the printer; clear it, then intake again',
              );
            ctx.out(`${run.accepted} accepted, ${run.refused} refused`);
          }
        } else if (cmd === 'personalize') await consolePersonalize(ctx, core, args, () => stopping);
        else ctx.err(`unknown command "${cmd}": type "help"`);
      } catch (e) {
        ctx.err(`${cmd}: ${message(e)}`);
      } finally {
        busy = false;
      }
      if (stopping) break;
      if (tty) rl.prompt();
    }
    stopping = true;
    ctx.out(`closing the station (${session_.accepted} accepted, ${session_.refused} refused)`);
  } finally {
    stopping = true;
    rl.close();
    process.off('SIGINT', onInterrupt);
    core.link.off('close', onLinkClose);
    offDevice();
    offSync();
  }
}

/** The console's `personalize [n]`: the core's job; a pause waits for the device to clear. */
async function consolePersonalize(
  ctx: CliContext,
  core: StationCore,
  args: string[],
  stopping: () => boolean,
): Promise<void> {
  const n = args[0] === undefined ? 1 : Number(args[0]);
  if (!Number.isInteger(n) || n < 1 || args.length > 1)
    return ctx.err('personalize: give the number of applications as a positive whole number');
  if (core.jobKind === 'test')
    return ctx.err('personalize: technicians run test jobs (station test-job dry-run)');
  const waitForOperator = announcePause(ctx.out, waitForStatusClear(core.devices.printer));
  for (let i = 0; i < n && !stopping(); i++) {
    const o = await core.personalize({ waitForOperator });
    ctx.out(formatPersoLine(o));
    if (o.outcome === 'no-application') break;
    if ((o.outcome === 'spoiled' || o.outcome === 'returned') && o.ejectError) break;
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description(
      'start the station: connect the device (in development mode, the simulator when none is configured, seeding a development station), ' +
        'log in, print a summary and run the station console on stdin (intake, personalize, status, reconcile, lang, help, quit)',
    )
    .option(
      '--port <path>',
      'serial port of the printer + encoder (default: the remembered device, else the simulator)',
    )
    .option(
      '--scenario <name>',
      `simulator scenario when no device is configured (default ${DEFAULT_SCENARIO})`,
    )
    .option(
      '--user <name>',
      'who works at the station (default operator on a development station); PIN from STATION_PIN or a prompt',
    )
    .option(
      '--dev',
      'development mode (as STATION_MODE=development), said on screen: the simulator when no device is configured, a development station seeded on an empty data directory, development keys',
    )
    .option(
      '--with-central [dir]',
      'development mode only: start a central office on this machine with the station (PGlite in dir, default dev-central in the data directory), enrol the development station with it the first time, and sync with it; it stops with the station',
    )
    .option(
      '--lang <lang>',
      `language of the operator messages: ${STATION_LANGUAGES.join(', ')}`,
      'es',
    )
    .action((opts: StartOpts) => start(ctx, opts));
}
