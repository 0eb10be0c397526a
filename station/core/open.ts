/**
 * Bringing a station up (docs/desktop.md, "The station core"): development mode, the device
 * (the configured one, or in development mode only the simulator), the development seed, the
 * database, the PIN pepper, key custody and the device clients. Every driver of the station
 * (the `station start` console, the Electron main process, the browser-mode bridge) opens it
 * through here; none decides any of this itself.
 */
import { existsSync } from 'node:fs';
import { EncoderClient } from '../../drivers/encoder.ts';
import type { Link } from '../../drivers/link.ts';
import { loadDeviceChoice, openHidLink, openSerialLink } from '../../drivers/open.ts';
import { PrinterClient } from '../../drivers/printer.ts';
import { DEV_CONSOLE_PASSPHRASE, inspectStation } from '../console.ts';
import { DEV_PASSPHRASE_ENV, seedStation, type SeedSpec } from '../dev-seed.ts';
import { StationError } from '../errors.ts';
import { openStationDb } from '../identity.ts';
import type { TransportKeyCustody } from '../keys/custody.ts';
import { isDevelopmentMode } from '../keys/open.ts';
import { openStationCustody } from '../keys/station-custody.ts';
import { openStationPinPepper } from '../keys/index.ts';
import type { StationLock } from '../station-lock.ts';
import { pinPepperLabel, usePinPepper } from '../users.ts';
import { openStationDataKey } from '../applications/index.ts';
import { stationCscas } from '../personalization/signers.ts';
import { explainRemoteError, SyncRemoteError } from '../sync/client.ts';
import {
  LOCAL_CENTRAL_DEVELOPMENT_ONLY,
  openLocalCentral,
  type DevelopmentEnroller,
  type LocalCentralOffice,
} from '../sync/local-central.ts';
import { openSyncService } from '../sync/open.ts';
import {
  StationCore,
  type CoreSeams,
  type OpenedPerso,
  type OpenedStation,
} from './station-core.ts';

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Starting the station was refused; nothing it opened is left open. */
export class StartRefusedError extends StationError {
  constructor(msg: string) {
    super(msg, 'start_refused');
    this.name = 'StartRefusedError';
  }
}

/** The simulator as the station sees it (the composition root starts it: station/ never imports simulator/). */
export interface SimulatedDevice {
  /** The serial port the station opens. */
  stationPath: string;
  /** Booklets in its input hopper when it started. */
  booklets: number;
  /** Injects a device fault by name (development and tests only). */
  inject(fault: string): string;
  close(): Promise<void>;
}

/** What development mode may use: given by the composition root (cli/, the bridge). */
export interface DevelopmentDevices {
  defaultScenario: string;
  /** The seed an empty data directory gets for a scenario. */
  seedFor(scenario: string): Promise<SeedSpec>;
  start(scenario: string, log: (line: string) => void): Promise<SimulatedDevice>;
  /** Who enrols a development station with a local central office (station/sync/local-central.ts). */
  enroller: DevelopmentEnroller;
}

export interface OpenStationOptions extends CoreSeams {
  dataDir: string;
  /** Taken by the caller before calling (a second station process is refused there). */
  lock: StationLock;
  /** A serial port to use (wins over the remembered device). */
  port?: string;
  scenario?: string;
  development?: DevelopmentDevices;
  /**
   * Development only: a central office on this machine to start with the station, and enrol
   * the development station with (the demo; station/sync/local-central.ts). Closed with it.
   */
  localCentral?: LocalCentralOffice;
  /** Lines for the person starting the station (what was chosen, seeded, ...). */
  note?: (line: string) => void;
  /** Diagnostic lines (the simulator's). */
  log?: (line: string) => void;
}

export const NO_DEVICE =
  'no device is configured: connect the printer and choose it with "station device use --port <path>", or pass --port; ' +
  'to run the simulator demo instead, start in development mode with "station start --dev" (npm start does) or STATION_MODE=development';

/**
 * Development mode is asked for, never assumed: `dev` (the --dev flag) or STATION_MODE=development.
 * Returns the banner lines (empty outside development mode); with `dev` it sets STATION_MODE
 * for the rest of the process, and in development mode an unset key-file passphrase becomes
 * the fixed, public development one (said in the lines).
 */
export function enterDevelopmentMode(dev: boolean | undefined): string[] {
  const mode = process.env.STATION_MODE;
  if (dev) {
    if (mode !== undefined && mode !== 'development')
      throw new StartRefusedError(
        `--dev asks for development mode, but STATION_MODE is "${mode}": unset STATION_MODE, or leave out --dev`,
      );
    process.env.STATION_MODE = 'development';
  }
  if (!isDevelopmentMode()) return [];
  const notes = [
    `*** DEVELOPMENT MODE (${dev ? '--dev' : 'STATION_MODE=development'}): simulated devices and development keys; never for production ***`,
  ];
  if (!process.env[DEV_PASSPHRASE_ENV]) {
    process.env[DEV_PASSPHRASE_ENV] = DEV_CONSOLE_PASSPHRASE;
    notes.push(
      `the development key file is protected by the fixed, public development passphrase (set ${DEV_PASSPHRASE_ENV} to choose one)`,
    );
  }
  return notes;
}

/** Refused before anything is created (not even the data directory and its lock file). */
export function checkCanStart(
  dataDir: string,
  port: string | undefined,
  opts: { localCentral?: boolean } = {},
): void {
  if (opts.localCentral && !isDevelopmentMode())
    throw new StartRefusedError(LOCAL_CENTRAL_DEVELOPMENT_ONLY);
  if (!port && !isDevelopmentMode() && !existsSync(dataDir)) throw new StartRefusedError(NO_DEVICE);
}

/** Everything opened so far, closed in reverse order whatever happens. */
export class Closers {
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

async function openConfiguredDevice(
  dataDir: string,
  port: string | undefined,
): Promise<{ link: Link; source: string } | undefined> {
  if (port) {
    try {
      return { link: await openSerialLink(port), source: `--port ${port}` };
    } catch (e) {
      throw new StartRefusedError(`cannot use the device at ${port}: ${message(e)}`);
    }
  }
  let choice;
  try {
    choice = loadDeviceChoice(dataDir);
  } catch (e) {
    throw new StartRefusedError(message(e));
  }
  if (!choice) return undefined;
  try {
    const link =
      choice.transport === 'hid'
        ? await openHidLink(choice.path, { reportSize: choice.reportSize ?? 64 })
        : await openSerialLink(choice.path, { baudRate: choice.baudRate ?? 115200 });
    return { link, source: `remembered ${choice.transport} device ${choice.path}` };
  } catch (e) {
    throw new StartRefusedError(
      `cannot use the remembered device ${choice.path}: ${message(e)} (connect it, or choose another with "station device use --port <path>")`,
    );
  }
}

/**
 * Opens the station: the device, the station (seeded in development on the simulator), the
 * database, PIN pepper, custody, device clients. Throws StartRefusedError (or the device's
 * error) with everything it opened closed again. Nobody is signed in yet.
 */
export async function openStation(opts: OpenStationOptions): Promise<StationCore> {
  const { dataDir } = opts;
  const note = opts.note ?? (() => undefined);
  const log = opts.log ?? (() => undefined);
  const res = new Closers();
  try {
    const configured = await openConfiguredDevice(dataDir, opts.port);
    if (configured) res.add('the device link', () => configured.link.close());
    let device: { link: Link; source: string; sim?: SimulatedDevice } | undefined = configured;
    if (device && opts.scenario)
      throw new StartRefusedError('--scenario is for the simulator; a device is configured');

    const setup = inspectStation(dataDir);
    const development = isDevelopmentMode();
    if (opts.localCentral) {
      if (!development || !opts.development)
        throw new StartRefusedError(LOCAL_CENTRAL_DEVELOPMENT_ONLY);
      if (setup.state === 'initialised' && setup.custody !== 'dev-file')
        throw new StartRefusedError(
          `--with-central enrols only a development station, and station ${setup.stationId} is not one (its keys are in ${setup.custody ?? 'no'} custody)`,
        );
    }
    if (device) {
      if (setup.state !== 'initialised')
        throw new StartRefusedError(
          `${dataDir} holds no initialised station, and a real device is connected (${device.source}): ` +
            'an administrator must set the station up first with "station init" (a real device is never used with a development seed)',
        );
    } else {
      if (setup.state === 'initialised' && setup.custody !== 'dev-file')
        throw new StartRefusedError(
          `no device is configured for station ${setup.stationId}, which is not a development station: ` +
            'connect the printer and choose it with "station device use --port <path>", or pass --port',
        );
      if (setup.state === 'uninitialised')
        throw new StartRefusedError(
          `${dataDir} holds a station database that was never initialised: run "station init", or start with an empty data directory`,
        );
      const dev = opts.development;
      if (!development || !dev) throw new StartRefusedError(NO_DEVICE);
      note('this is a DEVELOPMENT station: simulated devices, development keys');
      const scenario = opts.scenario ?? dev.defaultScenario;
      let spec: SeedSpec | undefined;
      if (setup.state === 'empty') {
        try {
          spec = await dev.seedFor(scenario);
        } catch (e) {
          throw new StartRefusedError(message(e));
        }
      }
      let sim: SimulatedDevice;
      try {
        sim = await dev.start(scenario, (l) => log(`simulator: ${l}`));
      } catch (e) {
        throw new StartRefusedError(`cannot start the simulator: ${message(e)}`);
      }
      res.add('the simulator', () => sim.close());
      note(
        `no device configured: using the simulator on ${sim.stationPath} (scenario ${scenario}, ${sim.booklets} booklets in the hopper)`,
      );
      let link: Link;
      try {
        link = await openSerialLink(sim.stationPath);
      } catch (e) {
        throw new StartRefusedError(`cannot connect to the simulator: ${message(e)}`);
      }
      device = { link, source: `simulator (scenario ${scenario})`, sim };
      res.add('the device link', () => link.close());
      if (spec) {
        const r = await seedStation(dataDir, spec);
        note(
          `seeded ${dataDir} for scenario ${scenario}: ${r.booklets} booklets received, ${r.allocated} allocated here, ${r.lostOrStolen} reported lost or stolen`,
        );
      }
    }

    const db = openStationDb(dataDir);
    res.add('the station database', () => db.close());
    if (pinPepperLabel(db) !== undefined) {
      let pepper;
      try {
        pepper = await openStationPinPepper(dataDir);
      } catch (e) {
        throw new StartRefusedError(
          `this station's PINs need the PIN pepper of its key custody: ${message(e)}`,
        );
      }
      usePinPepper(db, pepper.pepper);
      res.add('the PIN pepper', async () => {
        usePinPepper(db, undefined);
        await pepper.close();
      });
    }
    // The transport-key custody and the application data key open side by side (each derives
    // its key-file key, or opens its token session); whatever opened is closed if either fails.
    const [custodyOpened, dataKey] = await Promise.allSettled([
      openStationCustody(dataDir),
      openStationDataKey(dataDir),
    ]);
    if (custodyOpened.status === 'fulfilled')
      res.add('the transport-key custody', () => custodyOpened.value.close());
    if (dataKey.status === 'fulfilled')
      res.add('the application data key', () => dataKey.value.close());
    if (custodyOpened.status === 'rejected')
      throw new StartRefusedError(message(custodyOpened.reason));
    const custody: TransportKeyCustody = custodyOpened.value;
    // Personalization needs the application data key; a station without one still does intake.
    let perso: OpenedPerso | { unavailable: string };
    try {
      if (dataKey.status === 'rejected') throw dataKey.reason;
      perso = { dataKey: dataKey.value, cscas: stationCscas(dataDir) };
    } catch (e) {
      perso = { unavailable: message(e) };
      note(`personalization is not available: ${message(e)}`);
    }
    // Development: the local central office, the station enrolled with it (before the sync
    // loop opens, which then finds the enrolment; closed after the loop stops).
    if (opts.localCentral && opts.development) {
      let central;
      try {
        central = await openLocalCentral(
          db,
          dataDir,
          opts.localCentral,
          opts.development.enroller,
          note,
        );
      } catch (e) {
        throw new StartRefusedError(
          e instanceof SyncRemoteError
            ? `enrolling with the local central office: ${explainRemoteError(e)}`
            : message(e),
        );
      }
      res.add('the local central office', () => central.close());
    }
    // Sync with the central office runs by itself when the station is enrolled with one.
    let sync;
    try {
      sync = await openSyncService(db, dataDir);
    } catch (e) {
      throw new StartRefusedError(`the sync key of this enrolled station: ${message(e)}`);
    }
    if (sync) res.add('the sync loop', sync.close);
    const printer = new PrinterClient(device.link);
    const encoder = new EncoderClient(device.link);
    res.add('the device clients', () => {
      printer.detach();
      encoder.detach();
    });
    let deviceId;
    try {
      deviceId = await printer.identify();
    } catch (e) {
      throw new StartRefusedError(`the device (${device.source}) does not answer: ${message(e)}`);
    }
    const opened: OpenedStation = {
      dataDir,
      lock: opts.lock,
      db,
      custody,
      link: device.link,
      printer,
      encoder,
      deviceSource: device.source,
      deviceIdentity: deviceId,
      development,
      simulator: device.sim,
      perso,
      ...(sync ? { sync } : {}),
      closers: res,
    };
    const core = new StationCore(opened, opts);
    core.startSync();
    return core;
  } catch (e) {
    await res.closeAll(log);
    throw e;
  }
}
