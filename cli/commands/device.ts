import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { DeviceClient } from '../../drivers/device-client.ts';
import { EncoderClient } from '../../drivers/encoder.ts';
import type { Frame } from '../../drivers/frame.ts';
import { FrameType, type Link, type TraceEntry } from '../../drivers/link.ts';
import {
  discoverDevices,
  loadDeviceChoice,
  openSerialLink,
  probeSerial,
  saveDeviceChoice,
} from '../../drivers/open.ts';
import { PrinterClient } from '../../drivers/printer.ts';
import {
  Command as Cmd,
  commandName,
  eventName,
  statusName,
  TestPattern,
  type TestPatternKind,
} from '../../drivers/protocol.ts';
import type { Db } from '../../db/open.ts';
import { auditDeviceUse, DEVICE_ROLES, permitMaintenance } from '../../station/device-gate.ts';
import {
  DeviceTerminal,
  hexPreview,
  shownPayload,
  TerminalRefusal,
} from '../../station/device-terminal.ts';
import { openStationCustody } from '../../station/keys/station-custody.ts';
import type { Actor } from '../../station/users.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { formatIntakeLine } from '../intake-runner.ts';
import { login, withStationDb } from './users.ts';

interface PortOpts {
  port?: string;
  baud?: string;
  json?: boolean;
  user?: string;
}

/** Signs in a technician or admin (--user, PIN from STATION_PIN or a prompt). */
async function signIn(db: Db, opts: PortOpts, action: string): Promise<Actor> {
  return login(db, opts.user, DEVICE_ROLES, action);
}

function baudOf(opts: PortOpts): number {
  const b = opts.baud === undefined ? 115200 : Number(opts.baud);
  if (!Number.isInteger(b) || b < 300 || b > 4_000_000)
    throw new CliError(
      `--baud must be a whole number of baud between 300 and 4000000, not "${opts.baud}"`,
    );
  return b;
}

/** The port from --port, else the remembered choice. */
function portOf(ctx: CliContext, opts: PortOpts): string {
  if (opts.port) return opts.port;
  const choice = loadDeviceChoice(ctx.dataDir());
  if (choice?.transport === 'serial') return choice.path;
  throw new CliError(
    'no device given: pass --port <path> (or remember one with `station device use --port <path>`)',
  );
}

async function withLink<T>(
  ctx: CliContext,
  opts: PortOpts,
  fn: (link: Link) => Promise<T>,
): Promise<T> {
  ctx.lockStation();
  const path = portOf(ctx, opts);
  let link: Link;
  try {
    link = await openSerialLink(path, { baudRate: baudOf(opts) });
  } catch (e) {
    throw new CliError(e instanceof Error ? e.message : String(e));
  }
  try {
    return await fn(link);
  } finally {
    await link.close().catch(() => undefined);
  }
}

const hex = hexPreview;
const shown = shownPayload;

/** One line of the terminal for a frame, decoded as far as the protocol allows. */
export function describeTrace(e: TraceEntry): string {
  const arrow = e.dir === 'tx' ? '>>' : e.dir === 'rx' ? '<<' : '!!';
  if (!e.frame)
    return `${arrow} ${e.corrupt?.reason ?? 'corrupt'} (${e.corrupt?.bytes ?? 0} bytes dropped)`;
  const f: Frame = e.frame;
  const re = e.retransmission ? ' (resent)' : '';
  switch (f.type) {
    case FrameType.ACK:
      return `${arrow} ACK seq=${f.seq}`;
    case FrameType.NAK:
      return `${arrow} NAK ${f.code ? `seq=${f.seq}` : '(resend oldest)'}`;
    case FrameType.HELLO:
      return `${arrow} HELLO seq=${f.seq}${re}`;
    case FrameType.COMMAND:
      return `${arrow} CMD ${commandName(f.code)} seq=${f.seq}${re} ${shown(f.code, f.payload, 'command')}`.trimEnd();
    case FrameType.RESPONSE:
      return `${arrow} RSP ${commandName(f.code)} seq=${f.seq} to=${f.payload[0]} ${statusName(f.payload[1] ?? 0)}${re} ${shown(f.code, f.payload.subarray(2), 'response')}`.trimEnd();
    case FrameType.EVENT:
      return `${arrow} EVT ${eventName(f.code)} seq=${f.seq}${re} ${hex(f.payload)}`.trimEnd();
    default:
      return `${arrow} type=0x${f.type.toString(16)} code=0x${f.code.toString(16)} seq=${f.seq}`;
  }
}

/** Parses a terminal line: `NAME [hex | "text"]` or `0xNN [hex]`. */
export function parseTerminalLine(line: string): { code: number; payload: Buffer } {
  const m = /^\s*(\S+)\s*(.*?)\s*$/.exec(line);
  if (!m) throw new Error('empty line');
  const [, head, rest] = m as unknown as [string, string, string];
  let code: number;
  if (/^0x[0-9a-f]{1,2}$/i.test(head)) code = parseInt(head, 16);
  else {
    const c = (Cmd as Record<string, number>)[head.toUpperCase()];
    if (c === undefined)
      throw new Error(`unknown command "${head}" (known: ${Object.keys(Cmd).join(', ')}, or 0xNN)`);
    code = c;
  }
  let payload: Buffer;
  if (!rest) payload = Buffer.alloc(0);
  else if (/^".*"$/.test(rest)) payload = Buffer.from(rest.slice(1, -1), 'utf8');
  else if (/^([0-9a-f]{2}\s*)+$/i.test(rest))
    payload = Buffer.from(rest.replace(/\s+/g, ''), 'hex');
  else throw new Error(`payload must be hex bytes or "text", not ${rest}`);
  return { code, payload };
}

/** Terminal lines that are not protocol commands. */
const TERMINAL_HELP = [
  'commands: a protocol command by name or 0xNN, with hex bytes or "text" (e.g. IDENTIFY,',
  '  GET_STATUS, GET_COUNTERS, READ_SERIAL, FIELD 01, DETECT_CHIP, TRANSCEIVE 00a4040c...,',
  '  TEST_PATTERN 01, CLEAN, DEBUG "jam"); FEED is refused; MOVE_TO_ENCODER, PRINT_DATA_PAGE,',
  '  EJECT and chip writes only for the test booklet of "intake-test", until it is ejected',
  'intake-test: take the next booklet through test intake (test stock only)',
  'help: this text; end with Ctrl-D',
];

/**
 * The technician's terminal: raw commands in, every frame both ways decoded out. What may be
 * sent is decided by the station (station/device-terminal.ts); refusals are printed with `!!`.
 */
export async function runTerminal(
  term: DeviceTerminal,
  input: Readable,
  out: (line: string) => void,
): Promise<void> {
  const link = term.link;
  const onFrame = (e: TraceEntry): void => out(describeTrace(e));
  const onClose = (i: { disconnected: boolean }): void =>
    out(`!! link closed${i.disconnected ? ': device disconnected' : ''}`);
  link.on('frame', onFrame);
  link.on('close', onClose);
  out(
    'type a command (e.g. IDENTIFY, GET_STATUS, TEST_PATTERN 01, intake-test, help); end with Ctrl-D',
  );
  const rl = createInterface({ input, terminal: false });
  try {
    for await (const line of rl) {
      const word = line.trim().toLowerCase();
      if (!word) continue;
      if (word === 'help') {
        for (const h of TERMINAL_HELP) out(h);
        continue;
      }
      if (word === 'intake-test') {
        try {
          const o = await term.testIntake();
          out(`== test intake: ${formatIntakeLine(o, 'en')}`);
          if (o.decision === 'accepted')
            out(
              `== ${o.serial}: MOVE_TO_ENCODER, PRINT_DATA_PAGE, chip commands and EJECT allowed until it is ejected`,
            );
        } catch (e) {
          out(`!! ${e instanceof Error ? e.message : String(e)}`);
        }
        continue;
      }
      let cmd: { code: number; payload: Buffer };
      try {
        cmd = parseTerminalLine(line);
      } catch (e) {
        out(`?? ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      try {
        const r = await term.send(cmd.code, cmd.payload);
        const body =
          cmd.code === Cmd.TRANSCEIVE ||
          cmd.code === Cmd.TRANSCEIVE_COLLECT ||
          cmd.code === Cmd.READ_MRZ
            ? shown(cmd.code, r.payload, 'response')
            : hex(r.payload, 256);
        out(`== ${commandName(cmd.code)}: ${statusName(r.status)} ${body}`.trimEnd());
      } catch (e) {
        out(
          `!! ${e instanceof TerminalRefusal ? 'refused: ' : ''}${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
  } finally {
    link.off('frame', onFrame);
    rl.close();
    const { ejectError } = await term.close();
    if (ejectError) out(`!! the test booklet could not be ejected: ${ejectError}`);
    link.off('close', onClose);
  }
}

export function register(program: Command, ctx: CliContext): void {
  const device = program
    .command('device')
    .description('find, check and talk to the printer and encoder');

  device
    .command('list')
    .description(
      'list serial ports and USB HID devices (virtual ports are not listed: type their path)',
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const found = await discoverDevices();
      let chosen;
      try {
        chosen = loadDeviceChoice(ctx.dataDir());
      } catch (e) {
        found.problems.push(e instanceof Error ? e.message : String(e));
      }
      if (opts.json) {
        ctx.out(JSON.stringify({ ...found, chosen: chosen ?? null }));
        return;
      }
      ctx.out(`serial ports (${found.serial.length}):`);
      for (const p of found.serial)
        ctx.out(
          `  ${p.path}${p.manufacturer ? `  ${p.manufacturer}` : ''}${p.vendorId ? `  ${p.vendorId}:${p.productId}` : ''}`,
        );
      ctx.out(`HID devices (${found.hid.length}):`);
      for (const d of found.hid)
        ctx.out(
          `  ${d.path}  ${d.vendorId.toString(16)}:${d.productId.toString(16)}${d.product ? `  ${d.product}` : ''}`,
        );
      if (chosen) ctx.out(`remembered device: ${chosen.transport} ${chosen.path}`);
      for (const p of found.problems) ctx.err(`note: ${p}`);
    });

  device
    .command('info')
    .description('ask the device for its identity and status (technician or admin)')
    .option('--port <path>', 'serial port (default: the remembered device)')
    .option('--baud <n>', 'baud rate', '115200')
    .option('--user <name>', 'technician or admin; PIN from STATION_PIN or a prompt')
    .option('--json', 'machine-readable output')
    .action(async (opts: PortOpts) => {
      await withStationDb(ctx, async (db) => {
        const actor = await signIn(db, opts, 'ask the device for its identity and status');
        await withLink(ctx, opts, async (link) => {
          auditDeviceUse(db, actor, 'device.info', { port: link.description });
          const client = new DeviceClient(link);
          const identity = await client.identify();
          const status = await client.status();
          if (opts.json) {
            ctx.out(JSON.stringify({ port: link.description, identity, status }));
            return;
          }
          ctx.out(`port:      ${link.description}`);
          ctx.out(`model:     ${identity.model}`);
          ctx.out(`firmware:  ${identity.firmware}`);
          ctx.out(`serial:    ${identity.serialNumber}`);
          ctx.out(`kind:      ${identity.kind} (frames up to ${identity.maxPayload} bytes)`);
          const on = Object.entries(status.flags)
            .filter(([, v]) => v)
            .map(([k]) => k);
          ctx.out(
            `status:    ${on.length ? on.join(', ') : 'ready'}; booklet position: ${status.position}`,
          );
        });
      });
    });

  device
    .command('use')
    .description("probe a device and remember it as this station's device")
    .requiredOption('--port <path>', 'serial port')
    .option('--baud <n>', 'baud rate', '115200')
    .option('--json', 'machine-readable output')
    .action(async (opts: PortOpts) => {
      ctx.lockStation();
      const path = opts.port!;
      const baudRate = baudOf(opts);
      let identity;
      try {
        identity = await probeSerial(path, { baudRate });
      } catch (e) {
        throw new CliError(
          `${path} did not identify itself as a station device: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      saveDeviceChoice(ctx.dataDir(), {
        transport: 'serial',
        path,
        baudRate,
        identity,
        chosenAt: new Date().toISOString(),
      });
      if (opts.json) ctx.out(JSON.stringify({ path, baudRate, identity }));
      else ctx.out(`using ${identity.model} (${identity.serialNumber}) on ${path}`);
    });

  device
    .command('test-pattern')
    .description(
      'print a test pattern: nozzle, alignment or colour-bars (technician or admin; on no booklet)',
    )
    .argument('<kind>', 'nozzle | alignment | colour-bars')
    .option('--port <path>', 'serial port (default: the remembered device)')
    .option('--baud <n>', 'baud rate', '115200')
    .option('--user <name>', 'technician or admin; PIN from STATION_PIN or a prompt')
    .option('--json', 'machine-readable output')
    .action(async (kind: string, opts: PortOpts) => {
      if (!(kind in TestPattern))
        throw new CliError(`unknown test pattern "${kind}" (nozzle, alignment, colour-bars)`);
      await withStationDb(ctx, async (db) => {
        const actor = await signIn(db, opts, 'print test patterns');
        await withLink(ctx, opts, async (link) => {
          const printer = new PrinterClient(link);
          const permit = permitMaintenance(db, actor, link, 'TEST_PATTERN', { kind });
          try {
            await printer.testPattern(kind as TestPatternKind, permit);
          } catch (e) {
            throw new CliError(e instanceof Error ? e.message : String(e));
          }
          if (opts.json) ctx.out(JSON.stringify({ printed: kind }));
          else ctx.out(`printed the ${kind} test pattern`);
        });
      });
    });

  device
    .command('terminal')
    .description(
      'send raw commands and watch every frame both ways, decoded (technician or admin; docs/terminal.md)',
    )
    .option('--port <path>', 'serial port (default: the remembered device)')
    .option('--baud <n>', 'baud rate', '115200')
    .option('--user <name>', 'technician or admin; PIN from STATION_PIN or a prompt')
    .action(async (opts: PortOpts) => {
      await withStationDb(ctx, async (db) => {
        const actor = await signIn(db, opts, 'use the device terminal');
        await withLink(ctx, opts, async (link) => {
          const term = DeviceTerminal.open(
            db,
            actor,
            { printer: new PrinterClient(link), encoder: new EncoderClient(link) },
            () => openStationCustody(ctx.dataDir()),
          );
          await runTerminal(term, process.stdin, ctx.out);
        });
      });
    });
}
