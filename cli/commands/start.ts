import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import type { Db } from '../../db/open.ts';
import type { DeviceEvent, DeviceStatus } from '../../drivers/device-client.ts';
import { EncoderClient } from '../../drivers/encoder.ts';
import type { Link } from '../../drivers/link.ts';
import { loadDeviceChoice, openHidLink, openSerialLink } from '../../drivers/open.ts';
import { PrinterClient } from '../../drivers/printer.ts';
import { loadScenario, startSimulator, type RunningSimulator } from '../../simulator/index.ts';
import { seedForHopper } from '../../simulator/seed.ts';
import { agencyName } from '../../station/agencies.ts';
import { stockOnHand } from '../../station/booklets.ts';
import {
  DEV_CONSOLE_PASSPHRASE,
  inspectStation,
  type StationSetup,
} from '../../station/console.ts';
import { DEV_PASSPHRASE_ENV, seedStation, type SeedSpec } from '../../station/dev-seed.ts';
import { StationError } from '../../station/errors.ts';
import { getStationIdentity, openStationDb } from '../../station/identity.ts';
import { recoverIntakeJobs } from '../../station/intake/recovery.ts';
import { STATION_LANGUAGES, type StationLanguage } from '../../station/intake/messages.ts';
import type { TransportKeyCustody } from '../../station/keys/custody.ts';
import { isDevelopmentMode } from '../../station/keys/open.ts';
import { openStationCustody } from '../../station/keys/station-custody.ts';
import { reconcileDay } from '../../station/reconcile.ts';
import { dayOf } from '../../station/time.ts';
import { listUsers, type Actor } from '../../station/users.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { formatIntakeLine, runIntake } from '../intake-runner.ts';
import { consolePersonalize, openConsolePerso } from '../perso-runner.ts';
import { readSyncStatus } from '../../station/sync/index.ts';
import { describeSyncStatus, openSyncService } from './sync.ts';
import { attachPinPepper, login } from './users.ts';

interface StartOpts {
  port?: string;
  scenario?: string;
  user?: string;
  lang: string;
  dev?: boolean;
}

export const DEFAULT_SCENARIO = 'foreign-loan';

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Device events in the operator's words. */
const EVENT_TEXT: Record<string, Record<StationLanguage, string>> = {
  COVER_OPENED: { en: 'the printer cover is open', es: 'la tapa de la impresora está abierta' },
  COVER_CLOSED: { en: 'the printer cover is closed', es: 'la tapa de la impresora está cerrada' },
  JAM: { en: 'a booklet is jammed in the printer', es: 'una libreta está atascada' },
  JAM_CLEARED: { en: 'the jam is cleared', es: 'el atasco se ha despejado' },
  RIBBON_LOW: { en: 'the ribbon is running low', es: 'queda poca cinta' },
  RIBBON_OUT: { en: 'the ribbon is used up', es: 'la cinta se ha agotado' },
  RIBBON_REPLACED: { en: 'the ribbon was replaced', es: 'se ha cambiado la cinta' },
  INK_LOW: { en: 'the ink is running low', es: 'queda poca tinta' },
  INK_OUT: { en: 'the ink is used up', es: 'la tinta se ha agotado' },
  HOPPER_EMPTY: {
    en: 'the input hopper is empty',
    es: 'la bandeja de entrada está vacía',
  },
  HOPPER_LOADED: { en: 'booklets were loaded', es: 'se han cargado libretas' },
  REJECT_TRAY_FULL: {
    en: 'the reject tray is full: empty it',
    es: 'la bandeja de rechazo está llena: vacíela',
  },
};

function describeEvent(ev: DeviceEvent, lang: StationLanguage): string {
  return EVENT_TEXT[ev.name]?.[lang] ?? ev.name;
}

function describeStatus(s: DeviceStatus): string {
  const on = Object.entries(s.flags)
    .filter(([, v]) => v)
    .map(([k]) => k);
  return `${on.length ? on.join(', ') : 'ready'}; booklet position: ${s.position}`;
}

const HELP = [
  'intake [n]   take the next n booklets (default 1) through intake',
  'personalize [n]  personalize the next n applications (default 1)',
  'status       device status, stock on hand and this session',
  "reconcile    today's stock reconciliation for this station",
  'lang es|en   language of the operator messages',
  'help         this list',
  'quit         close the station (also end of input or Ctrl-C)',
];

/** Everything `start` opened, closed in reverse order whatever happens. */
class Resources {
  private readonly closers: { what: string; close: () => unknown }[] = [];
  add(what: string, close: () => unknown): void {
    this.closers.push({ what, close });
  }
  async closeAll(err: (line: string) => void): Promise<void> {
    for (const c of this.closers.reverse()) {
      try {
        await c.close();
      } catch (e) {
        err(`closing ${c.what}: ${message(e)}`);
      }
    }
    this.closers.length = 0;
  }
}

interface Device {
  link: Link;
  /** Where it came from, for the summary. */
  source: string;
  sim?: RunningSimulator;
}

/** `--port`, else the remembered device, else undefined (the simulator). */
async function openConfiguredDevice(ctx: CliContext, opts: StartOpts): Promise<Device | undefined> {
  if (opts.port) {
    try {
      return { link: await openSerialLink(opts.port), source: `--port ${opts.port}` };
    } catch (e) {
      throw new CliError(`cannot use the device at ${opts.port}: ${message(e)}`);
    }
  }
  let choice;
  try {
    choice = loadDeviceChoice(ctx.dataDir());
  } catch (e) {
    throw new CliError(message(e));
  }
  if (!choice) return undefined;
  try {
    const link =
      choice.transport === 'hid'
        ? await openHidLink(choice.path, { reportSize: choice.reportSize ?? 64 })
        : await openSerialLink(choice.path, { baudRate: choice.baudRate ?? 115200 });
    return { link, source: `remembered ${choice.transport} device ${choice.path}` };
  } catch (e) {
    throw new CliError(
      `cannot use the remembered device ${choice.path}: ${message(e)} (connect it, or choose another with "station device use --port <path>")`,
    );
  }
}

/**
 * Development mode is asked for, never assumed: `--dev` or STATION_MODE=development. Returns
 * the banner lines to print (empty outside development mode); with `--dev` it sets
 * STATION_MODE for the rest of the process, and in development mode an unset key-file
 * passphrase becomes the fixed, public development one (said on screen).
 */
function developmentMode(opts: StartOpts): string[] {
  const mode = process.env.STATION_MODE;
  if (opts.dev) {
    if (mode !== undefined && mode !== 'development')
      throw new CliError(
        `--dev asks for development mode, but STATION_MODE is "${mode}": unset STATION_MODE, or leave out --dev`,
      );
    process.env.STATION_MODE = 'development';
  }
  if (!isDevelopmentMode()) return [];
  const notes = [
    `*** DEVELOPMENT MODE (${opts.dev ? '--dev' : 'STATION_MODE=development'}): simulated devices and development keys; never for production ***`,
  ];
  if (!process.env[DEV_PASSPHRASE_ENV]) {
    process.env[DEV_PASSPHRASE_ENV] = DEV_CONSOLE_PASSPHRASE;
    notes.push(
      `the development key file is protected by the fixed, public development passphrase (set ${DEV_PASSPHRASE_ENV} to choose one)`,
    );
  }
  return notes;
}

async function scenarioSeed(name: string): Promise<SeedSpec> {
  try {
    const scenario = await loadScenario(name);
    return scenario.seed ? scenario.seed() : seedForHopper(scenario.hopper());
  } catch (e) {
    throw new CliError(message(e));
  }
}

function printStock(ctx: CliContext, db: Db, stationId: string): void {
  const stock = stockOnHand(db, stationId);
  const total = stock.reduce((n, s) => n + s.count, 0);
  ctx.out(`stock on hand: ${total} (${stock.map((s) => `${s.state} ${s.count}`).join(', ')})`);
}

function printReconciliation(ctx: CliContext, db: Db): void {
  const id = getStationIdentity(db);
  const day = dayOf(new Date(), id.timeZone);
  const r = reconcileDay(db, day, { stationId: id.stationId });
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

const NO_DEVICE =
  'no device is configured: connect the printer and choose it with "station device use --port <path>", or pass --port; ' +
  'to run the simulator demo instead, start in development mode with "station start --dev" (npm start does) or STATION_MODE=development';

async function start(ctx: CliContext, opts: StartOpts): Promise<void> {
  let lang = opts.lang as StationLanguage;
  if (!STATION_LANGUAGES.includes(lang))
    throw new CliError(`--lang must be one of ${STATION_LANGUAGES.join(', ')}`);
  const dataDir = ctx.dataDir();
  const banner = developmentMode(opts);
  for (const line of banner) ctx.out(line);
  // Refused before anything is created (not even the data directory and its lock file): no
  // device to use and no development mode to fall back to the simulator.
  if (!opts.port && !isDevelopmentMode() && !existsSync(dataDir)) throw new CliError(NO_DEVICE);
  // Before any device, simulator or database: a second station process stops here.
  const lock = ctx.lockStation();
  const res = new Resources();
  try {
    // 1. The device: --port, the remembered one, else the simulator.
    const configured = await openConfiguredDevice(ctx, opts);
    if (configured) res.add('the device link', () => configured.link.close());
    let device = configured;
    if (device && opts.scenario)
      throw new CliError('--scenario is for the simulator; a device is configured');

    // 2. The station: a real device needs an initialised station; the simulator may seed one.
    const setup: StationSetup = inspectStation(dataDir);
    const development = isDevelopmentMode();
    if (device) {
      if (setup.state !== 'initialised')
        throw new CliError(
          `${dataDir} holds no initialised station, and a real device is connected (${device.source}): ` +
            'an administrator must set the station up first with "station init" (a real device is never used with a development seed)',
        );
    } else {
      if (setup.state === 'initialised' && setup.custody !== 'dev-file')
        throw new CliError(
          `no device is configured for station ${setup.stationId}, which is not a development station: ` +
            'connect the printer and choose it with "station device use --port <path>", or pass --port',
        );
      if (setup.state === 'uninitialised')
        throw new CliError(
          `${dataDir} holds a station database that was never initialised: run "station init", or start with an empty data directory`,
        );
      if (!development) throw new CliError(NO_DEVICE);
      ctx.out('this is a DEVELOPMENT station: simulated devices, development keys');
      const scenario = opts.scenario ?? DEFAULT_SCENARIO;
      const spec = setup.state === 'empty' ? await scenarioSeed(scenario) : undefined;
      let sim: RunningSimulator;
      try {
        sim = await startSimulator({ scenario, log: (l) => ctx.err(`simulator: ${l}`) });
      } catch (e) {
        throw new CliError(`cannot start the simulator: ${message(e)}`);
      }
      res.add('the simulator', () => sim.close());
      ctx.out(
        `no device configured: using the simulator on ${sim.stationPath} (scenario ${scenario}, ${sim.hopper.length} booklets in the hopper)`,
      );
      let link: Link;
      try {
        link = await openSerialLink(sim.stationPath);
      } catch (e) {
        throw new CliError(`cannot connect to the simulator: ${message(e)}`);
      }
      device = { link, source: `simulator (scenario ${scenario})`, sim };
      res.add('the device link', () => link.close());
      if (spec) {
        try {
          const r = await seedStation(dataDir, spec);
          ctx.out(
            `seeded ${dataDir} for scenario ${scenario}: ${r.booklets} booklets received, ${r.allocated} allocated here, ${r.lostOrStolen} reported lost or stolen`,
          );
        } catch (e) {
          if (e instanceof StationError) throw new CliError(e.message);
          throw e;
        }
      }
    }
    const link = device.link;

    const db = openStationDb(dataDir);
    res.add('the station database', () => db.close());
    const identity = getStationIdentity(db);

    // 3. Login.
    if (development) {
      const users = listUsers(db).filter((u) => !u.disabled);
      ctx.out(
        `development users: ${users.map((u) => `${u.username} (${u.role})`).join(', ')}; their PINs are in simulator/seed.ts`,
      );
    }
    const username = opts.user ?? (development ? 'operator' : undefined);
    if (!username) throw new CliError('--user <name> is required to start the station');
    const closePepper = await attachPinPepper(db, dataDir);
    if (closePepper) res.add('the PIN pepper', closePepper);
    const actor: Actor = await login(
      db,
      username,
      ['operator', 'supervisor', 'technician'],
      'work at the station',
    );
    const jobKind = actor.role === 'technician' ? 'test' : 'production';
    const recovered = recoverIntakeJobs(db, lock, actor);
    if (recovered.interrupted + recovered.released > 0)
      ctx.out(
        `recovered ${recovered.interrupted} interrupted and ${recovered.released} unfinished intake jobs`,
      );

    let custody: TransportKeyCustody;
    try {
      custody = await openStationCustody(dataDir);
    } catch (e) {
      throw new CliError(message(e));
    }
    res.add('the transport-key custody', () => custody.close());

    const printer = new PrinterClient(link);
    const encoder = new EncoderClient(link);
    res.add('the device clients', () => {
      printer.detach();
      encoder.detach();
    });
    // Personalization: its keys, and recovery of dead processes' jobs from evidence.
    const perso = await openConsolePerso(ctx, db, lock, actor, dataDir, { printer, encoder });
    if (perso) res.add('the personalization keys', () => perso.close());

    // 4. Summary.
    let deviceId;
    let deviceStatus;
    try {
      deviceId = await printer.identify();
      deviceStatus = await printer.status();
    } catch (e) {
      throw new CliError(`the device (${device.source}) does not answer: ${message(e)}`);
    }
    ctx.out(
      `station ${identity.stationId} of ${identity.agencyCode} (${agencyName(db, identity.agencyCode)})${development ? ' [development]' : ''}`,
    );
    ctx.out(
      `user: ${actor.username} (${actor.role})${jobKind === 'test' ? ': test jobs on test stock only' : ''}`,
    );
    printStock(ctx, db, identity.stationId);
    ctx.out(
      `device: ${deviceId.model} ${deviceId.firmware}, serial ${deviceId.serialNumber} (${deviceId.kind}) via ${device.source}`,
    );
    ctx.out(`device status: ${describeStatus(deviceStatus)}`);
    ctx.out(`data directory: ${dataDir}`);
    // Sync with the central office runs by itself when one is enrolled; its state changes are
    // printed as they happen.
    const sync = await openSyncService(db, dataDir);
    if (sync) {
      res.add('the sync loop', sync.close);
      sync.service.on('connection', (st) => ctx.out(describeSyncStatus(st)));
      sync.service.start();
    } else ctx.out(describeSyncStatus(readSyncStatus(db)));
    ctx.out('type "help" for the commands');

    // 5. The console.
    let stopping = false;
    let busy = false;
    const onEvent = (ev: DeviceEvent): void => {
      if (ev.progress) return;
      ctx.out(`device: ${describeEvent(ev, lang)}`);
    };
    printer.on('event', onEvent);
    res.add('the event listener', () => printer.off('event', onEvent));
    const onLinkClose = (info: { disconnected?: boolean }): void => {
      if (!stopping)
        ctx.err(
          `the device link closed${info.disconnected ? ' (device disconnected)' : ''}: quit and start again`,
        );
    };
    link.on('close', onLinkClose);
    res.add('the link listener', () => link.off('close', onLinkClose));

    const tty = process.stdin.isTTY === true;
    // On a terminal, readline echoes what is typed and shows the prompt.
    const rl = createInterface({
      input: process.stdin,
      ...(tty ? { output: process.stdout, terminal: true } : { terminal: false }),
    });
    res.add('the console input', () => rl.close());
    const onInterrupt = (): void => {
      if (busy) ctx.err('stopping after the current booklet');
      stopping = true;
      rl.close();
    };
    rl.on('SIGINT', onInterrupt);
    process.on('SIGINT', onInterrupt);
    res.add('the interrupt handler', () => process.off('SIGINT', onInterrupt));
    const session = { accepted: 0, refused: 0 };
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
            lang = l;
            ctx.out(`language: ${lang}`);
          }
        } else if (cmd === 'status') {
          ctx.out(`device status: ${describeStatus(await printer.status())}`);
          printStock(ctx, db, identity.stationId);
          ctx.out(`this session: ${session.accepted} accepted, ${session.refused} refused`);
          if (sync) ctx.out(describeSyncStatus(sync.service.status()));
        } else if (cmd === 'reconcile') printReconciliation(ctx, db);
        else if (cmd === 'intake') {
          const n = args[0] === undefined ? 1 : Number(args[0]);
          if (!Number.isInteger(n) || n < 1 || args.length > 1)
            ctx.err('intake: give the number of booklets as a positive whole number');
          else {
            const run = await runIntake({
              db,
              actor,
              printer,
              encoder,
              custody,
              jobKind,
              count: n,
              onOutcome: (o) => ctx.out(formatIntakeLine(o, lang)),
              shouldStop: () => stopping,
            });
            session.accepted += run.accepted;
            session.refused += run.refused;
            if (run.end === 'hopper-empty') ctx.out('the input hopper is empty');
            if (run.end === 'eject-failed')
              ctx.out(
                'intake stopped: a refused booklet is still in the printer; clear it, then intake again',
              );
            ctx.out(`${run.accepted} accepted, ${run.refused} refused`);
            // New records (refusals) go to the central office now, not at the next interval.
            sync?.service.poke();
          }
        } else if (cmd === 'personalize') {
          await consolePersonalize(
            ctx,
            perso,
            args,
            { db, actor, printer, encoder },
            () => stopping,
          );
        } else ctx.err(`unknown command "${cmd}": type "help"`);
      } catch (e) {
        ctx.err(`${cmd}: ${message(e)}`);
      } finally {
        busy = false;
      }
      if (stopping) break;
      if (tty) rl.prompt();
    }
    stopping = true;
    ctx.out(`closing the station (${session.accepted} accepted, ${session.refused} refused)`);
  } finally {
    await res.closeAll(ctx.err);
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description(
      'start the station: connect the device (in development mode, the simulator when none is configured, seeding a development station), ' +
        'log in, print a summary and run the station console on stdin (intake, status, reconcile, lang, help, quit)',
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
      '--lang <lang>',
      `language of the operator messages: ${STATION_LANGUAGES.join(', ')}`,
      'es',
    )
    .action((opts: StartOpts) => start(ctx, opts));
}
