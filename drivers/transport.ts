import type { EventEmitter } from 'node:events';

/** Why a transport closed. */
export interface CloseInfo {
  /** True when the device went away (cable pulled, pty closed, HID unplugged). */
  disconnected: boolean;
  error?: Error;
}

/**
 * A byte pipe to a device. Events: `data` (Buffer), `close` (CloseInfo), `warning` (string:
 * something non-fatal, e.g. a pty without modem lines), `lost` (string: bytes known lost,
 * e.g. a missing HID report).
 */
export interface Transport extends EventEmitter {
  readonly isOpen: boolean;
  /** A human-readable name of the endpoint (path). */
  readonly description: string;
  /** Bits per byte on the wire and bytes per second, used for timing (undefined = no limit). */
  readonly bytesPerSecond: number | undefined;
  /** Resolves once the bytes are handed to the OS; rejects, without queueing, when closed. */
  write(data: Buffer): Promise<void>;
  close(): Promise<void>;
  /** Opens again after a close or disconnect. */
  reopen(): Promise<void>;
}

/** Raised when writing to, or waiting on, a transport that is not open. */
export class TransportClosedError extends Error {
  constructor(
    what: string,
    readonly disconnected = false,
  ) {
    super(`${what}: ${disconnected ? 'device disconnected' : 'port is closed'}`);
    this.name = 'TransportClosedError';
  }
}
