/**
 * The technician's device terminal as a use case (`station device terminal`, docs/terminal.md):
 * raw protocol commands from a signed-in technician or admin, audited. Reads, status and
 * diagnostics are free; printer maintenance gets a single-use permit from the gate; FEED is
 * refused (a booklet enters the transport only through test intake); moving, printing on or
 * writing to a booklet is allowed only for the test booklet that passed test intake in this
 * session, until it is ejected. A production booklet can never be fed, printed or written here.
 */
import type { EncoderClient } from '../drivers/encoder.ts';
import { FrameType, type Link, type LinkResponse, type TraceEntry } from '../drivers/link.ts';
import { guardedOperation, permitIsLive, type DevicePermit } from '../drivers/permit.ts';
import type { PrinterClient } from '../drivers/printer.ts';
import { Command, commandName, eventName, statusName } from '../drivers/protocol.ts';
import type { Db } from '../db/open.ts';
import {
  auditDeviceUse,
  permitForClearance,
  permitMaintenance,
  revokePermit,
} from './device-gate.ts';
import { StationError } from './errors.ts';
import { intakeNextBooklet, type IntakeAccepted, type IntakeOutcome } from './intake/intake.ts';
import { finishJob, journalStep } from './intake/journal.ts';
import type { TransportKeyCustody } from './keys/custody.ts';
import { transition } from './lifecycle.ts';
import type { Actor } from './users.ts';

/** A payload in hex, cut after `max` bytes (the length said). */
export function hexPreview(b: Buffer, max = 48): string {
  const h = b.subarray(0, max).toString('hex');
  return b.length > max ? `${h}… (${b.length} bytes)` : h;
}

/**
 * A payload as the terminal shows it. Payloads that may carry personal data or keys (print
 * jobs, the MRZ read back, APDUs: data group contents, the BAC key seed, the AA private key,
 * SCP03 cryptograms) are never shown: only their shape (an APDU's header, a response's status
 * word, a length). Everything else in hex.
 */
export function shownPayload(code: number, payload: Buffer, dir: 'command' | 'response'): string {
  if (code === Command.TRANSCEIVE || code === Command.TRANSCEIVE_COLLECT) {
    if (dir === 'command' && payload.length >= 4)
      return `APDU ${payload.subarray(0, 4).toString('hex')} +${payload.length - 4} bytes (not shown)`;
    if (dir === 'response' && payload.length >= 2)
      return `SW ${payload.subarray(-2).toString('hex')} +${payload.length - 2} bytes (not shown)`;
    return payload.length ? `${payload.length} bytes (not shown)` : '';
  }
  if (
    (code === Command.PRINT_DATA_PAGE && dir === 'command') ||
    (code === Command.READ_MRZ && dir === 'response')
  )
    return payload.length ? `${payload.length} bytes of personal data (not shown)` : '';
  return hexPreview(payload);
}

/** One frame of the conversation as the terminal shows it (the window's terminal.frame). */
export interface TerminalFrameView {
  at: string;
  dir: 'tx' | 'rx' | 'bad';
  kind: 'command' | 'response' | 'event' | 'ack' | 'nak' | 'hello' | 'corrupt' | 'other';
  seq: number | null;
  name: string;
  status?: string;
  resent?: boolean;
  detail: string;
}

/** Decodes a frame of the link's trace as far as the protocol allows, payloads as shownPayload. */
export function terminalFrameView(e: TraceEntry): TerminalFrameView {
  const at = new Date(e.at).toISOString();
  const f = e.frame;
  if (!f)
    return {
      at,
      dir: e.dir,
      kind: 'corrupt',
      seq: null,
      name: '',
      detail: `${e.corrupt?.reason ?? 'corrupt'} (${e.corrupt?.bytes ?? 0} bytes dropped)`,
    };
  const base = { at, dir: e.dir, seq: f.seq, ...(e.retransmission ? { resent: true } : {}) };
  switch (f.type) {
    case FrameType.COMMAND:
      return {
        ...base,
        kind: 'command',
        name: commandName(f.code),
        detail: shownPayload(f.code, f.payload, 'command'),
      };
    case FrameType.RESPONSE:
      return {
        ...base,
        kind: 'response',
        name: commandName(f.code),
        status: statusName(f.payload[1] ?? 0),
        detail: shownPayload(f.code, f.payload.subarray(2), 'response'),
      };
    case FrameType.EVENT:
      return { ...base, kind: 'event', name: eventName(f.code), detail: hexPreview(f.payload) };
    case FrameType.ACK:
      return { ...base, kind: 'ack', name: '', detail: '' };
    case FrameType.NAK:
      return { ...base, kind: 'nak', name: '', detail: f.code ? '' : 'resend oldest' };
    case FrameType.HELLO:
      return { ...base, kind: 'hello', name: '', detail: '' };
    default:
      return {
        ...base,
        kind: 'other',
        name: '',
        detail: `type=0x${f.type.toString(16)} code=0x${f.code.toString(16)}`,
      };
  }
}

/** A terminal command refused by the station: nothing was sent. */
export class TerminalRefusal extends StationError {
  constructor(message: string) {
    super(message, 'terminal_refused');
    this.name = 'TerminalRefusal';
  }
}

interface HeldBooklet {
  accepted: IntakeAccepted;
  permit: DevicePermit;
  /** Printed on or written to: it can only end as test_consumed. */
  consumed: boolean;
}

export interface TerminalDevices {
  printer: PrinterClient;
  encoder: EncoderClient;
}

export class DeviceTerminal {
  readonly #db: Db;
  readonly #actor: Actor;
  readonly #devices: TerminalDevices;
  readonly #openCustody: () => Promise<TransportKeyCustody>;
  #custody: TransportKeyCustody | undefined;
  #held: HeldBooklet | undefined;
  readonly #sent = new Map<string, number>();
  #refused = 0;
  #closed = false;

  private constructor(
    db: Db,
    actor: Actor,
    devices: TerminalDevices,
    openCustody: () => Promise<TransportKeyCustody>,
  ) {
    this.#db = db;
    this.#actor = actor;
    this.#devices = devices;
    this.#openCustody = openCustody;
  }

  /**
   * Opens a terminal session for a technician or admin (audited). `openCustody` is called once,
   * on the first test intake (the transport keys are needed only for that).
   */
  static open(
    db: Db,
    actor: Actor,
    devices: TerminalDevices,
    openCustody: () => Promise<TransportKeyCustody>,
  ): DeviceTerminal {
    auditDeviceUse(db, actor, 'device.terminal.opened', {
      port: devices.printer.link.description,
    });
    return new DeviceTerminal(db, actor, devices, openCustody);
  }

  get link(): Link {
    return this.#devices.printer.link;
  }

  /** The serial of the test booklet this session may work on, if any. */
  get testBooklet(): string | undefined {
    return this.#held && permitIsLive(this.#held.permit) ? this.#held.accepted.serial : undefined;
  }

  /**
   * Sends one raw command. Throws TerminalRefusal (audited, nothing sent) when the terminal may
   * not send it; otherwise resolves with the device's answer, whatever its status.
   */
  async send(code: number, payload: Buffer): Promise<LinkResponse> {
    if (this.#closed) throw new TerminalRefusal('the terminal session is closed');
    const name = commandName(code);
    const op = guardedOperation(code, payload);
    let permit: DevicePermit | undefined;
    if (op === 'UNLISTED')
      this.#refuse(name, op, `${name} is not a command of the station protocol`);
    else if (op === 'TEST_PATTERN' || op === 'CLEAN')
      permit = permitMaintenance(this.#db, this.#actor, this.link, op, { via: 'terminal' });
    else if (op === 'FEED')
      this.#refuse(
        name,
        op,
        'FEED is refused in the terminal: a booklet enters the transport only through test intake (type "intake-test")',
      );
    else if (op !== undefined) {
      const held = this.#held;
      if (!held || !permitIsLive(held.permit))
        this.#refuse(
          name,
          op,
          `${name}${op.startsWith('CHIP') ? ` (${op})` : ''} is refused: the booklet in the transport did not pass test intake in this session (type "intake-test" to take the next test booklet)`,
        );
      // A test booklet printed on or written to never goes back to stock: recorded before the
      // command is sent, so a crash cannot hand a written booklet back.
      if ((op === 'PRINT_DATA_PAGE' || op === 'CHIP_WRITE') && !held.consumed) this.#consume(held);
      permit = held.permit;
    }
    if (code === Command.DEBUG)
      auditDeviceUse(this.#db, this.#actor, 'device.terminal.debug', {
        fault: payload.toString('utf8').slice(0, 200),
      });
    this.#sent.set(name, (this.#sent.get(name) ?? 0) + 1);
    const held = this.#held;
    try {
      return await this.link.request(code, payload, permit ? { permit } : {});
    } finally {
      // The booklet has left the transport (or is stuck and must be cleared by hand).
      if (op === 'EJECT' && held) this.#finishHeld(held);
    }
  }

  /**
   * Takes the next booklet through test intake (test stock only, like `station intake
   * --test-job`). An accepted one may then be moved, printed on, written to and ejected from
   * this session; anything else is refused and ejected to the reject tray by intake.
   */
  async testIntake(): Promise<IntakeOutcome> {
    if (this.#closed) throw new TerminalRefusal('the terminal session is closed');
    if (this.#held && permitIsLive(this.#held.permit))
      throw new TerminalRefusal(
        `test booklet ${this.#held.accepted.serial} is still in the transport: eject it first (EJECT 00)`,
      );
    this.#custody ??= await this.#openCustody();
    const { printer, encoder } = this.#devices;
    const o = await intakeNextBooklet({
      db: this.#db,
      actor: this.#actor,
      printer,
      encoder,
      custody: this.#custody,
      jobKind: 'test',
    });
    if (o.decision === 'accepted') {
      const permit = permitForClearance(
        this.#db,
        this.#actor,
        o.clearance,
        ['MOVE_TO_ENCODER', 'PRINT_DATA_PAGE', 'CHIP_AUTH', 'CHIP_WRITE', 'EJECT'],
        'terminal test job',
      );
      this.#held = { accepted: o, permit, consumed: false };
    }
    return o;
  }

  /**
   * Ends the session: a test booklet still held is ejected to the output tray and its job
   * finished; the session is audited with the commands sent (names and counts, no payloads).
   */
  async close(): Promise<{ ejectError?: string }> {
    if (this.#closed) return {};
    this.#closed = true;
    let ejectError: string | undefined;
    const held = this.#held;
    if (held) {
      try {
        if (permitIsLive(held.permit)) await this.#devices.printer.eject('output', held.permit);
      } catch (e) {
        ejectError = e instanceof Error ? e.message : String(e);
      } finally {
        this.#finishHeld(held);
      }
    }
    await this.#custody?.close();
    auditDeviceUse(this.#db, this.#actor, 'device.terminal.closed', {
      sent: Object.fromEntries(this.#sent),
      refused: this.#refused,
      ...(ejectError ? { ejectError } : {}),
    });
    return ejectError ? { ejectError } : {};
  }

  #refuse(name: string, operation: string, message: string): never {
    this.#refused++;
    auditDeviceUse(this.#db, this.#actor, 'device.terminal.refused', {
      command: name,
      operation,
      ...(this.#held ? { testBooklet: this.#held.accepted.serial } : {}),
    });
    throw new TerminalRefusal(message);
  }

  #consume(held: HeldBooklet): void {
    const { serial, jobId } = held.accepted;
    transition(this.#db, {
      serial,
      to: 'test_consumed',
      actor: this.#actor,
      reason: `terminal test job: printed on or written to (intake ${jobId})`,
    });
    held.consumed = true;
  }

  #finishHeld(held: HeldBooklet): void {
    if (this.#held !== held) return;
    this.#held = undefined;
    revokePermit(held.permit, 'the test booklet left the transport');
    this.#devices.encoder.setWrapper(undefined);
    const { serial, jobId } = held.accepted;
    const at = new Date();
    this.#db.transaction(() => {
      if (!held.consumed)
        transition(this.#db, {
          serial,
          to: 'allocated',
          actor: this.#actor,
          reason: `terminal test job ${jobId}: released unused`,
          at,
        });
      journalStep(this.#db, jobId, 'release', at, { terminal: true, consumed: held.consumed });
      finishJob(this.#db, jobId, 'released', at);
    })();
  }
}
