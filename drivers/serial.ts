import { EventEmitter } from 'node:events';
import { realpath } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import { TransportClosedError, type CloseInfo, type Transport } from './transport.ts';

export interface SerialOptions {
  baudRate?: number;
  dataBits?: 5 | 6 | 7 | 8;
  stopBits?: 1 | 1.5 | 2;
  parity?: 'none' | 'even' | 'odd' | 'mark' | 'space';
  /** Assert DTR and RTS after opening (ignored with a warning where the port has no modem lines). */
  assertModemLines?: boolean;
  /**
   * How often to check that the port's device node still exists and is the one opened (ms;
   * 0 = never). A pulled USB adapter or a stopped pty pair does not always wake the reader.
   * Default 250.
   */
  presenceCheckMs?: number;
}

/** A serial port (serialport v13) as a Transport. */
export class SerialTransport extends EventEmitter implements Transport {
  private port: SerialPort | undefined;
  private open = false;
  private closing = false;
  private presenceTimer: NodeJS.Timeout | undefined;
  readonly bytesPerSecond: number;

  constructor(
    readonly path: string,
    private readonly opts: SerialOptions = {},
  ) {
    super();
    const bits =
      1 +
      (opts.dataBits ?? 8) +
      (opts.parity && opts.parity !== 'none' ? 1 : 0) +
      (opts.stopBits ?? 1);
    this.bytesPerSecond = (opts.baudRate ?? 115200) / bits;
  }

  get description(): string {
    return this.path;
  }

  get isOpen(): boolean {
    return this.open;
  }

  static async open(path: string, opts: SerialOptions = {}): Promise<SerialTransport> {
    const t = new SerialTransport(path, opts);
    await t.reopen();
    return t;
  }

  async reopen(): Promise<void> {
    if (this.open) return;
    const port = new SerialPort({
      path: this.path,
      baudRate: this.opts.baudRate ?? 115200,
      dataBits: this.opts.dataBits ?? 8,
      stopBits: this.opts.stopBits ?? 1,
      parity: this.opts.parity ?? 'none',
      autoOpen: false,
    });
    const device = await realpath(this.path).catch(() => undefined);
    await new Promise<void>((resolve, reject) =>
      port.open((err) =>
        err ? reject(new Error(`cannot open serial port ${this.path}: ${err.message}`)) : resolve(),
      ),
    );
    this.port = port;
    this.open = true;
    port.on('data', (d: Buffer) => this.emit('data', d));
    port.on('error', (err: Error) => {
      // Errors on an open port precede a close; keep them for the close notice.
      this.emit('warning', `serial port ${this.path}: ${err.message}`);
    });
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) => {
      if (this.port !== port) return;
      if (this.presenceTimer) clearInterval(this.presenceTimer);
      this.presenceTimer = undefined;
      this.open = false;
      this.port = undefined;
      // Any close we did not ask for means the device went away, whatever the error says.
      const info: CloseInfo = { disconnected: Boolean(err?.disconnected) || !this.closing };
      this.closing = false;
      if (err) info.error = err;
      this.emit('close', info);
    });
    this.watchPresence(port, device);
    if (this.opts.assertModemLines !== false) {
      await new Promise<void>((resolve) =>
        port.set({ dtr: true, rts: true }, (err) => {
          if (err)
            this.emit('warning', `${this.path} has no modem lines (DTR/RTS): ${err.message}`);
          resolve();
        }),
      );
    }
  }

  /**
   * Watches the device node the port was opened on (`device`, resolved before opening). Where
   * the path resolves to no file (e.g. COM3 on Windows) there is nothing to watch.
   */
  private watchPresence(port: SerialPort, device: string | undefined): void {
    const every = this.opts.presenceCheckMs ?? 250;
    if (!every || !device) return;
    let checking = false;
    this.presenceTimer = setInterval(() => {
      if (checking || this.port !== port) return;
      checking = true;
      realpath(this.path)
        .then(
          (p) => p === device,
          () => false,
        )
        .then((present) => {
          checking = false;
          if (!present && this.port === port) this.lost(port, 'device node is gone');
        });
    }, every);
    this.presenceTimer.unref();
  }

  /** The device went away without the reader noticing: close and report a disconnect. */
  private lost(port: SerialPort, why: string): void {
    this.emit('warning', `serial port ${this.path}: ${why}`);
    if (port.isOpen) port.close(() => undefined);
    else if (this.port === port) {
      this.open = false;
      this.port = undefined;
      this.emit('close', { disconnected: true } satisfies CloseInfo);
    }
  }

  write(data: Buffer): Promise<void> {
    const port = this.port;
    if (!this.open || !port) return Promise.reject(new TransportClosedError(this.path));
    return new Promise((resolve, reject) => {
      port.write(data, (err) => {
        if (!err) return resolve();
        const code = (err as Error & { code?: string }).code;
        if (code === 'EIO' || code === 'ENXIO' || code === 'EBADF') this.lost(port, err.message);
        reject(new TransportClosedError(`${this.path}: write failed (${err.message})`, true));
      });
    });
  }

  async close(): Promise<void> {
    const port = this.port;
    if (!port || !this.open) return;
    this.closing = true;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}

export interface SerialPortInfo {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
}

/** Lists serial ports. Throws an Error with a clear message where enumeration is impossible. */
export async function listSerialPorts(): Promise<SerialPortInfo[]> {
  try {
    const ports = await SerialPort.list();
    return ports.map((p) => {
      const info: SerialPortInfo = { path: p.path };
      if (p.manufacturer) info.manufacturer = p.manufacturer;
      if (p.serialNumber) info.serialNumber = p.serialNumber;
      if (p.vendorId) info.vendorId = p.vendorId;
      if (p.productId) info.productId = p.productId;
      return info;
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(
      `cannot list serial ports (${msg}); on Linux listing needs udevadm (package udev). ` +
        'Type the port path instead (virtual ports such as ptys are never listed).',
    );
  }
}
