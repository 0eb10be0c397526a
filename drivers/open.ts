import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceClient, type DeviceIdentity } from './device-client.ts';
import { openHidTransport, listHidDevices, type HidDeviceInfo, type HidOptions } from './hid.ts';
import { Link, type LinkOptions } from './link.ts';
import { commandName } from './protocol.ts';
import {
  listSerialPorts,
  SerialTransport,
  type SerialOptions,
  type SerialPortInfo,
} from './serial.ts';

export interface SerialLinkOptions extends SerialOptions, Omit<LinkOptions, 'commandName'> {}

/** Opens a serial port and starts a link session on it (HELLO acknowledged). */
export async function openSerialLink(path: string, opts: SerialLinkOptions = {}): Promise<Link> {
  const transport = await SerialTransport.open(path, opts);
  const link = new Link(transport, { ...opts, commandName });
  try {
    await link.hello();
  } catch (e) {
    await link.close().catch(() => undefined);
    throw new Error(`no device answers on ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return link;
}

/** Opens a USB HID device and starts a link session on it. */
export async function openHidLink(
  path: string,
  opts: Omit<HidOptions, 'description'> & Omit<LinkOptions, 'commandName'>,
): Promise<Link> {
  const transport = await openHidTransport(path, opts);
  const link = new Link(transport, { ...opts, commandName });
  try {
    await link.hello();
  } catch (e) {
    await link.close().catch(() => undefined);
    throw new Error(
      `no device answers on HID ${path}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return link;
}

/** Asks the device on a serial port who it is; closes the port again. */
export async function probeSerial(
  path: string,
  opts: SerialLinkOptions = {},
): Promise<DeviceIdentity> {
  const link = await openSerialLink(path, { ackTimeoutMs: 200, maxRetransmissions: 2, ...opts });
  try {
    const client = new DeviceClient(link, { timeouts: { IDENTIFY: 1000 } });
    return await client.identify();
  } finally {
    await link.close().catch(() => undefined);
  }
}

export interface DiscoveredDevices {
  serial: SerialPortInfo[];
  hid: HidDeviceInfo[];
  /** Why a kind of device could not be listed (e.g. udevadm or libusb missing). */
  problems: string[];
}

/** Lists serial ports and HID devices; a kind that cannot be listed is a problem, not a crash. */
export async function discoverDevices(): Promise<DiscoveredDevices> {
  const out: DiscoveredDevices = { serial: [], hid: [], problems: [] };
  try {
    out.serial = await listSerialPorts();
  } catch (e) {
    out.problems.push(e instanceof Error ? e.message : String(e));
  }
  try {
    out.hid = await listHidDevices();
  } catch (e) {
    out.problems.push(e instanceof Error ? e.message : String(e));
  }
  return out;
}

/** The device the technician chose, remembered in the data directory (devices.json). */
export interface DeviceChoice {
  transport: 'serial' | 'hid';
  path: string;
  baudRate?: number;
  /** HID report size when transport is hid. */
  reportSize?: number;
  identity?: DeviceIdentity;
  chosenAt: string;
}

const CHOICE_FILE = 'devices.json';

export function loadDeviceChoice(dataDir: string): DeviceChoice | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, CHOICE_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${join(dataDir, CHOICE_FILE)} is not valid JSON: choose the device again`);
  }
  const d = doc as Partial<DeviceChoice>;
  if ((d.transport !== 'serial' && d.transport !== 'hid') || typeof d.path !== 'string' || !d.path)
    throw new Error(`${join(dataDir, CHOICE_FILE)} has no valid device: choose the device again`);
  return d as DeviceChoice;
}

/** Writes the choice atomically (temporary file + rename). */
export function saveDeviceChoice(dataDir: string, choice: DeviceChoice): void {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, CHOICE_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify(choice, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}
