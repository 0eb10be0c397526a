import { EventEmitter } from 'node:events';
import { readSync, writeSync } from 'node:fs';
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

type BindingPort = Awaited<ReturnType<typeof SerialPort.binding.open>>;
interface OpenOptions {
  path: string;
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  stopBits: 1 | 1.5 | 2;
  parity: NonNullable<SerialOptions['parity']>;
}
/** serialport's binding for this platform: the one its SerialPort stream uses. */
const openPort = SerialPort.binding.open.bind(SerialPort.binding) as (
  o: OpenOptions,
) => Promise<BindingPort>;

/**
 * What the unix bindings (Linux, macOS) have beyond serialport's port interface: the
 * non-blocking file descriptor and its poller (libuv's poll handle on it).
 */
interface UnixPort {
  fd: number | null;
  poller: { once(event: 'readable' | 'writable', cb: (err: Error | null) => void): unknown };
}

function unixPort(port: BindingPort): (BindingPort & UnixPort) | undefined {
  const p = port as Partial<UnixPort>;
  return typeof p.fd === 'number' && p.poller ? (port as BindingPort & UnixPort) : undefined;
}

/** Bytes read into one pool before a new one is taken (each chunk handed on is a view of it). */
const POOL_SIZE = 64 * 1024;
const MIN_POOL_SPACE = 1024;
const RESOLVED = Promise.resolve();

const isRetry = (e: unknown): boolean => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
};

interface PendingWrite {
  data: Buffer;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * A serial port as a Transport, on serialport's native binding (v13).
 *
 * On Linux and macOS the port is read and written on the main thread, which never blocks: the
 * binding opens it non-blocking and its poller (libuv's poll handle) says when bytes have
 * arrived or the line can take more; each wake-up is one read(2), each write one write(2),
 * unless the OS buffer is full (then the rest waits for the poller). serialport's stream would
 * send each read and write through libuv's thread pool, a hand-over to a worker thread and back
 * each time, and through Readable/Writable stream machinery: most of a round trip's CPU. Where
 * the binding has no descriptor (Windows) its own asynchronous read and write are used.
 */
export class SerialTransport extends EventEmitter implements Transport {
  private port: BindingPort | undefined;
  private open = false;
  private presenceTimer: NodeJS.Timeout | undefined;
  private pool = Buffer.allocUnsafe(0);
  private poolUsed = 0;
  /** Writes waiting for room in the OS buffer (unix), oldest first. */
  private readonly writes: PendingWrite[] = [];
  private bindingWrites: Promise<void> = RESOLVED;
  /** Settles once the last port opened is closed again (a reopen waits for it). */
  private closed: Promise<void> = RESOLVED;
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
    await this.closed;
    if (this.open) return;
    const device = await realpath(this.path).catch(() => undefined);
    let port: BindingPort;
    try {
      port = await openPort({
        path: this.path,
        baudRate: this.opts.baudRate ?? 115200,
        dataBits: this.opts.dataBits ?? 8,
        stopBits: this.opts.stopBits ?? 1,
        parity: this.opts.parity ?? 'none',
      });
    } catch (e) {
      throw new Error(
        `cannot open serial port ${this.path}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    this.port = port;
    this.open = true;
    const unix = unixPort(port);
    if (unix) this.readUnix(port, unix);
    else this.readLoop(port);
    this.watchPresence(port, device);
    if (this.opts.assertModemLines !== false && this.port === port) {
      await port.set({ dtr: true, rts: true }).catch((err: Error) => {
        this.emit('warning', `${this.path} has no modem lines (DTR/RTS): ${err.message}`);
      });
    }
  }

  /** Hands on received bytes: a view of the read pool, valid for good (the pool is not reused). */
  private takePool(): Buffer {
    if (this.pool.length - this.poolUsed < MIN_POOL_SPACE) {
      this.pool = Buffer.allocUnsafe(POOL_SIZE);
      this.poolUsed = 0;
    }
    return this.pool;
  }

  /** Reads whatever has arrived each time the poller says the descriptor is readable. */
  private readUnix(port: BindingPort, unix: UnixPort): void {
    const onReadable = (err: Error | null): void => {
      if (this.port !== port || !this.open) return;
      // The poller reports a hang-up (the other end of a pty gone, an adapter pulled) as an error.
      if (err) return this.fail(port, err);
      const fd = unix.fd;
      if (fd === null) return;
      const pool = this.takePool();
      const start = this.poolUsed;
      let n: number;
      try {
        n = readSync(fd, pool, start, pool.length - start, null);
      } catch (e) {
        if (!isRetry(e)) return this.fail(port, e as Error);
        n = -1; // woken for nothing: wait again
      }
      // A terminal that reads nothing where the poller said bytes were waiting has hung up.
      if (n === 0) return this.fail(port, new Error('the device hung up'));
      // Waiting again before handing the bytes on: whatever the listeners do (close the port,
      // throw), the reader stays consistent. Bytes left unread wake the poller at once.
      unix.poller.once('readable', onReadable);
      if (n < 0) return;
      this.poolUsed = start + n;
      this.emit('data', pool.subarray(start, start + n));
    };
    unix.poller.once('readable', onReadable);
  }

  /** Where the binding has no descriptor: its own read, which waits for at least one byte. */
  private readLoop(port: BindingPort): void {
    const next = (): void => {
      if (this.port !== port || !this.open) return;
      const pool = this.takePool();
      const start = this.poolUsed;
      port.read(pool, start, pool.length - start).then(
        ({ bytesRead }) => {
          if (this.port !== port || !this.open) return;
          if (bytesRead === 0) return this.fail(port, new Error('the device hung up'));
          if (this.pool === pool) this.poolUsed = Math.max(this.poolUsed, start + bytesRead);
          this.emit('data', pool.subarray(start, start + bytesRead));
          next();
        },
        (err: Error & { canceled?: boolean }) => {
          if (!err.canceled) this.fail(port, err);
        },
      );
    };
    next();
  }

  /**
   * Watches the device node the port was opened on (`device`, resolved before opening). Where
   * the path resolves to no file (e.g. COM3 on Windows) there is nothing to watch.
   */
  private watchPresence(port: BindingPort, device: string | undefined): void {
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
          if (!present && this.port === port) this.fail(port, new Error('device node is gone'));
        });
    }, every);
    this.presenceTimer.unref();
  }

  /**
   * The port failed under us (read or write error, hang-up, node gone): the device went away.
   * Closes it and reports a disconnect; writes still waiting fail.
   */
  private fail(port: BindingPort, err: Error): void {
    if (this.port !== port) return;
    this.emit('warning', `serial port ${this.path}: ${err.message}`);
    void this.shutDown(port, { disconnected: true, error: err });
  }

  private shutDown(port: BindingPort, info: CloseInfo): Promise<void> {
    this.closed = this.closePort(port, info);
    return this.closed;
  }

  private async closePort(port: BindingPort, info: CloseInfo): Promise<void> {
    this.port = undefined;
    this.open = false;
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    this.presenceTimer = undefined;
    const waiting = this.writes.splice(0);
    const why = new TransportClosedError(this.path, info.disconnected);
    for (const w of waiting) w.reject(why);
    if (port.isOpen) await port.close().catch(() => undefined);
    this.emit('close', info);
  }

  write(data: Buffer): Promise<void> {
    const port = this.port;
    if (!this.open || !port) return Promise.reject(new TransportClosedError(this.path));
    const unix = unixPort(port);
    if (!unix) return this.writeViaBinding(port, data);
    if (!this.writes.length) {
      // Nothing waiting for room: straight to the OS buffer.
      const done = this.writeNow(port, unix, data);
      if (typeof done !== 'number') return Promise.reject(done);
      if (done === data.length) return RESOLVED;
      data = data.subarray(done);
    }
    return new Promise((resolve, reject) => {
      this.writes.push({ data, resolve, reject });
      if (this.writes.length === 1) this.waitWritable(port, unix);
    });
  }

  /** Writes what the OS takes now: the byte count, or the error that closed the port. */
  private writeNow(port: BindingPort, unix: UnixPort, data: Buffer): number | Error {
    let done = 0;
    while (done < data.length) {
      try {
        if (unix.fd === null) throw new Error('port closed');
        done += writeSync(unix.fd, data, done, data.length - done);
      } catch (e) {
        if (isRetry(e)) {
          if ((e as NodeJS.ErrnoException).code === 'EINTR') continue;
          return done;
        }
        // Any other write error means the device went away, as serialport's stream treats it.
        this.fail(port, e as Error);
        return new TransportClosedError(
          `${this.path}: write failed (${(e as Error).message})`,
          true,
        );
      }
    }
    return done;
  }

  /** The OS buffer was full: writes the rest as room appears, in order. */
  private waitWritable(port: BindingPort, unix: UnixPort): void {
    unix.poller.once('writable', (err) => {
      if (this.port !== port) return; // closed: shutDown() rejected what was waiting
      if (err) return this.fail(port, err);
      while (this.writes.length) {
        const w = this.writes[0]!;
        const done = this.writeNow(port, unix, w.data);
        if (typeof done !== 'number') return; // fail() rejected what was waiting
        if (done < w.data.length) {
          w.data = w.data.subarray(done);
          return this.waitWritable(port, unix);
        }
        this.writes.shift();
        w.resolve();
      }
    });
  }

  /** Where the binding has no descriptor: its own write, one at a time, in order. */
  private writeViaBinding(port: BindingPort, data: Buffer): Promise<void> {
    const run = this.bindingWrites.then(() => {
      if (this.port !== port) throw new TransportClosedError(this.path);
      return port.write(data).catch((err: Error & { canceled?: boolean }) => {
        if (!err.canceled) this.fail(port, err);
        throw new TransportClosedError(`${this.path}: write failed (${err.message})`, true);
      });
    });
    this.bindingWrites = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    const port = this.port;
    if (!port || !this.open) return;
    await this.shutDown(port, { disconnected: false });
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
