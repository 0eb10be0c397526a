import { EventEmitter } from 'node:events';
import type { Link } from './link.ts';
import type { DevicePermit } from './permit.ts';
import {
  Command,
  commandName,
  DeviceError,
  decodeTlv,
  eventName,
  Event,
  IdentityFeature,
  IdentityTag,
  Position,
  Status,
  StatusFlag,
  type CommandName,
  type EventName,
  type StatusFlagName,
} from './protocol.ts';

/** Response timeouts per command, in ms: short for queries, long for mechanical moves. */
export const DEFAULT_TIMEOUTS: Record<CommandName, number> = {
  IDENTIFY: 1500,
  GET_STATUS: 1500,
  DEBUG: 1500,
  FEED: 20_000,
  READ_SERIAL: 5_000,
  MOVE_TO_ENCODER: 15_000,
  PRINT_DATA_PAGE: 90_000,
  READ_MRZ: 10_000,
  EJECT: 15_000,
  TEST_PATTERN: 90_000,
  CLEAN: 120_000,
  GET_COUNTERS: 1500,
  FIELD: 2_000,
  DETECT_CHIP: 3_000,
  TRANSCEIVE: 5_000,
  TRANSCEIVE_COLLECT: 5_000,
};

export interface DeviceIdentity {
  model: string;
  firmware: string;
  serialNumber: string;
  /** 'printer', 'encoder' or 'printer+encoder'. */
  kind: string;
  /** The largest frame payload the device accepts. */
  maxPayload: number;
  /**
   * Optional features the device announces (IDENTIFY FEATURES), comma-separated, '' for none:
   * `transceive-collect` (the encoder completes 61xx answers itself: TRANSCEIVE_COLLECT).
   */
  features: string;
}

export interface DeviceStatus {
  raw: number;
  flags: Record<StatusFlagName, boolean>;
  position: 'none' | 'reader' | 'encoder' | 'printer';
}

export interface DeviceEvent {
  name: EventName | string;
  code: number;
  payload: Buffer;
  /** JOB_PROGRESS: percent done and stage text. */
  progress?: { percent: number; stage: string };
}

export interface ClientOptions {
  timeouts?: Partial<Record<CommandName, number>>;
}

/** What printer and encoder clients share: command calls with timeouts, identity, status, events. */
export class DeviceClient extends EventEmitter {
  protected readonly timeouts: Record<CommandName, number>;
  private readonly onEvent = (code: number, payload: Buffer): void => {
    const ev: DeviceEvent = { name: eventName(code), code, payload };
    if (code === Event.JOB_PROGRESS && payload.length >= 1)
      ev.progress = { percent: payload[0]!, stage: payload.subarray(1).toString('utf8') };
    this.emit('event', ev);
  };

  constructor(
    readonly link: Link,
    opts: ClientOptions = {},
  ) {
    super();
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    link.on('event', this.onEvent);
  }

  /** Stops listening to the link's events (the link stays open). */
  detach(): void {
    this.link.off('event', this.onEvent);
  }

  /**
   * Sends a command; resolves with the payload of an OK answer, throws DeviceError otherwise.
   * A command that moves, prints on or writes to a booklet needs a permit (drivers/permit.ts):
   * without one the link refuses it with PermitError before anything is sent.
   */
  async call(
    name: CommandName,
    payload: Buffer = Buffer.alloc(0),
    permit?: DevicePermit,
  ): Promise<Buffer> {
    const code = Command[name];
    const res = await this.link.request(code, payload, {
      timeoutMs: this.timeouts[name],
      ...(permit ? { permit } : {}),
    });
    if (res.status !== Status.OK)
      throw new DeviceError(
        commandName(code),
        res.status,
        res.payload.toString('utf8') || undefined,
      );
    return res.payload;
  }

  async identify(): Promise<DeviceIdentity> {
    const tlv = decodeTlv(await this.call('IDENTIFY'));
    const get = (t: number): Buffer | undefined => tlv.find((x) => x.tag === t)?.value;
    const text = (t: number): string => get(t)?.toString('utf8') ?? '';
    const max = get(IdentityTag.MAX_PAYLOAD);
    const features = get(IdentityTag.FEATURES);
    return {
      model: text(IdentityTag.MODEL),
      firmware: text(IdentityTag.FIRMWARE),
      serialNumber: text(IdentityTag.SERIAL),
      kind: text(IdentityTag.KIND),
      maxPayload: max && max.length === 4 ? max.readUInt32BE(0) : 0,
      features:
        features?.length && features[0]! & IdentityFeature.TRANSCEIVE_COLLECT
          ? 'transceive-collect'
          : '',
    };
  }

  async status(): Promise<DeviceStatus> {
    const p = await this.call('GET_STATUS');
    if (p.length < 5) throw new DeviceError('GET_STATUS', Status.BAD_PAYLOAD, 'short status');
    const raw = p.readUInt32BE(0);
    const flags = Object.fromEntries(
      Object.entries(StatusFlag).map(([k, bit]) => [k, (raw & bit) !== 0]),
    ) as Record<StatusFlagName, boolean>;
    const pos = p[4]!;
    const position =
      pos === Position.READER
        ? 'reader'
        : pos === Position.ENCODER
          ? 'encoder'
          : pos === Position.PRINTER
            ? 'printer'
            : 'none';
    return { raw, flags, position };
  }

  /** Simulator only: injects a fault (see docs/protocol.md, DEBUG). */
  async debug(command: string): Promise<string> {
    return (await this.call('DEBUG', Buffer.from(command, 'utf8'))).toString('utf8');
  }
}
