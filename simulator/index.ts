import { mkdirSync } from 'node:fs';
import { Link } from '../drivers/link.ts';
import { FrameType } from '../drivers/link.ts';
import { Command, commandName } from '../drivers/protocol.ts';
import { SerialTransport } from '../drivers/serial.ts';
import type { Transport } from '../drivers/transport.ts';
import { SimDevice, type SimBooklet } from './device.ts';
import { dumpBooklet } from './dump.ts';
import { loadHopperFile, parseHopper, type Booklet, type HopperFile } from './hopper.ts';
import { getProfile, type TimingProfile } from './profiles.ts';
import { loadScenario } from './scenario.ts';
import { ThrottledTransport } from './throttle.ts';
import { createVirtualSerialPair } from './virtual-port.ts';

export { SimDevice, FAULT_HELP, bookletPrintFaults, type SimBooklet } from './device.ts';
export { dumpBooklet, ldsFileName } from './dump.ts';
export {
  printedGrey,
  printedPng,
  printedRaster,
  type PagePrintFaults,
  type PrintedPage,
} from './printed-page.ts';
export {
  SimChip,
  EMRTD_AID,
  PREPERSO_FID,
  PutDataTag,
  LifeCycle,
  type SecureChannelHandler,
  type SimChipOptions,
} from './chip.ts';
export { Scp03TransportLock } from './transport-auth.ts';
export * from './hopper.ts';
export { PROFILES, getProfile, type TimingProfile } from './profiles.ts';
export { scenarioNames, loadScenario, type Scenario } from './scenario.ts';
export { createVirtualSerialPair, type VirtualSerialPair } from './virtual-port.ts';

export interface SimulatorOptions {
  /** Booklets for the input hopper (wins over hopperFile and scenario). */
  hopper?: HopperFile;
  /** Path of a hopper JSON file (docs/hopper-format.md). */
  hopperFile?: string;
  /** A scenario in simulator/scenarios/ (default "default"). */
  scenario?: string;
  /** Timing profile name or object (default: the scenario's, else "zero-latency"). */
  profile?: string | TimingProfile;
  /** Directory for the pty symlinks (default: a fresh temporary directory). */
  dir?: string;
  /**
   * Chips' transport lock (SCP03 before any write); default on. Off only for link-level tests
   * and benchmarks that write to chips without transport authentication.
   */
  transportLock?: boolean;
  /** Diagnostic lines (connection changes, faults). */
  log?: (line: string) => void;
  /**
   * Writes every booklet that leaves the transport personalized or printed into
   * `<dump>/<booklet serial>/`: its chip's files, the printed page (PNG) and the MRZ read from
   * it (docs/hopper-format.md, "Dump").
   */
  dump?: string;
}

export interface RunningSimulator {
  /** The serial port path the station opens. */
  stationPath: string;
  profile: TimingProfile;
  device: SimDevice;
  /** Injects a fault by name (docs/protocol.md, DEBUG); returns the acknowledgement text. */
  inject(fault: string): string;
  /** Booklets still in the input hopper (live). */
  hopper: Booklet[];
  outputTray: SimBooklet[];
  rejectTray: SimBooklet[];
  /** Resolves once the device end is connected again after a dropped connection. */
  whenConnected(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the simulated printer + encoder on a fresh virtual serial pair (in-process). */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const log = opts.log ?? (() => undefined);
  const scenario = await loadScenario(opts.scenario ?? 'default');
  const hopper = opts.hopper
    ? parseHopper(opts.hopper)
    : opts.hopperFile
      ? loadHopperFile(opts.hopperFile)
      : scenario.hopper();
  const profile =
    typeof opts.profile === 'object'
      ? opts.profile
      : getProfile(opts.profile ?? scenario.profile ?? 'zero-latency');
  const device = new SimDevice(hopper.booklets, profile, undefined, {
    transportLock: opts.transportLock ?? true,
  });
  scenario.setup?.(device);
  const dumpDir = opts.dump;
  if (dumpDir !== undefined) {
    try {
      mkdirSync(dumpDir, { recursive: true });
    } catch (e) {
      throw new Error(
        `cannot create the dump directory ${dumpDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    device.onEjected = (b, tray) => {
      try {
        const wrote = dumpBooklet(dumpDir, b, tray);
        if (wrote) log(`dumped ${wrote}`);
      } catch (e) {
        // The booklet has left the printer either way; the dump's failure is reported, not fatal.
        log(
          `dump of ${b.booklet.printedSerial} failed: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    };
  }

  const pair = await createVirtualSerialPair(opts.dir ? { dir: opts.dir } : {});
  let link: Link | undefined;
  let closing = false;
  let reconnecting: Promise<void> = Promise.resolve();

  const outgoingFilter = (bytes: Buffer, frame: { type: number; code: number }): Buffer | null => {
    const isData = frame.type === FrameType.RESPONSE || frame.type === FrameType.EVENT;
    if (!isData || (frame.type === FrameType.RESPONSE && frame.code === Command.DEBUG))
      return bytes;
    const lf = device.linkFaults;
    if (lf.corruptCrc > 0) {
      lf.corruptCrc--;
      const b = Buffer.from(bytes);
      b[b.length - 1] = b[b.length - 1]! ^ 0x5a;
      log(`fault: corrupted CRC of ${commandName(frame.code)} frame`);
      return b;
    }
    if (lf.dropBytes > 0) {
      lf.dropBytes--;
      const mid = Math.max(1, Math.floor(bytes.length / 2) - 2);
      log(`fault: dropped bytes of ${commandName(frame.code)} frame`);
      return Buffer.concat([bytes.subarray(0, mid), bytes.subarray(mid + 3)]);
    }
    return bytes;
  };

  const connect = async (): Promise<void> => {
    const serial = await SerialTransport.open(pair.devicePath, {
      baudRate: profile.baudRate ?? 115200,
    });
    const t: Transport = profile.baudRate
      ? new ThrottledTransport(serial, profile.baudRate / 10)
      : serial;
    const l = new Link(t, { outgoingFilter, commandName });
    l.setCommandHandler((code, payload) => device.handle(code, payload));
    l.on('warning', (w: string) => log(`link: ${w}`));
    l.on('close', (info: { disconnected: boolean }) => {
      if (closing || link !== l) return;
      log(
        `connection lost${info.disconnected ? ' (station closed its end)' : ''}; restoring the port`,
      );
      // The station closing its end ends socat: bring the cable back for the next connection.
      reconnecting = reconnecting.then(() => restore(100));
    });
    link = l;
  };

  const restore = async (afterMs: number): Promise<void> => {
    const old = link;
    link = undefined;
    await old?.close().catch(() => undefined);
    await pair.unplug();
    await new Promise((r) => setTimeout(r, afterMs));
    if (closing) return;
    await pair.replug();
    await connect();
    log(`virtual port ready again at ${pair.stationPath}`);
  };

  device.on('event', (code: number, payload: Buffer) => {
    void link?.sendEvent(code, payload);
  });
  device.on('disconnect-request', (ms: number) => {
    log(`fault: dropping the connection for ${ms} ms`);
    reconnecting = reconnecting.then(() => restore(ms));
  });

  await connect();
  return {
    stationPath: pair.stationPath,
    profile,
    device,
    inject: (fault) => device.inject(fault),
    hopper: device.hopper,
    outputTray: device.outputTray,
    rejectTray: device.rejectTray,
    whenConnected: () => reconnecting,
    close: async () => {
      closing = true;
      await reconnecting.catch(() => undefined);
      await link?.close().catch(() => undefined);
      await pair.close();
    },
  };
}
