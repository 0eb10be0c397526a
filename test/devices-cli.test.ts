import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTerminalLine, runTerminal } from '../cli/commands/device.ts';
import type { Db } from '../db/open.ts';
import { EncoderClient } from '../drivers/encoder.ts';
import { openSerialLink } from '../drivers/open.ts';
import { PrinterClient } from '../drivers/printer.ts';
import { beginPayload, commitPayload, dataPayload, encodePage } from '../drivers/page-transfer.ts';
import { Command } from '../drivers/protocol.ts';
import { mrzOnlySvg } from '../mrtd/data-page.ts';
import { rasterizeDataPage } from '../mrtd/data-page-raster.ts';
import { readMrz } from '../simulator/camera.ts';
import { lookupBooklet } from '../station/booklets.ts';
import { seedStation } from '../station/dev-seed.ts';
import { permitClearTransport } from '../station/device-gate.ts';
import { DeviceTerminal } from '../station/device-terminal.ts';
import { acquireStationLock } from '../station/station-lock.ts';
import { openStationDb } from '../station/identity.ts';
import { intakeNextBooklet } from '../station/intake/intake.ts';
import { recoverIntakeJobs } from '../station/intake/recovery.ts';
import { openStationCustody } from '../station/keys/station-custody.ts';
import { authenticate } from '../station/users.ts';
import {
  defaultHopper,
  makeBooklet,
  printedRaster,
  startSimulator,
  type RunningSimulator,
} from '../simulator/index.ts';
import { DEV_PIN, OUR_PROFILE, seedFor } from '../simulator/seed.ts';
import { runCli } from './helpers/cli.ts';
import { closeAllSocatPairs, createSocatPair } from './helpers/socat.ts';
import { DEV_ENV, seedScenarioStation, type SeededStation } from './intake-support.ts';

/** A page the terminal prints on a test booklet: the MRZ zone of a specimen. */
const TERMINAL_MRZ: [string, string] = [
  'P<PERQUISPE<HUAMAN<<ROSA<MARIA<<<<<<<<<<<<<<',
  'PA10000012PER8504123F3104128<<<<<<<<<<<<<<06',
];
const PAGE = encodePage(rasterizeDataPage(mrzOnlySvg(TERMINAL_MRZ)));

let sim: RunningSimulator;
let dataDir: string;
/** A development station holding the all-good booklets as production stock. */
let station: SeededStation;
const savedEnv = { ...process.env };

beforeAll(async () => {
  Object.assign(process.env, DEV_ENV, { STATION_PIN: DEV_PIN });
  station = await seedScenarioStation('all-good');
  sim = await startSimulator({ scenario: 'all-good' });
  dataDir = mkdtempSync(join(tmpdir(), 'station-cli-'));
});

afterAll(async () => {
  await sim.close();
  await closeAllSocatPairs();
  station?.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
  process.env = savedEnv;
});

/** `station device ...` signed in as `user` (default technician) on the seeded station. */
const device = (args: string[], user = 'technician'): ReturnType<typeof runCli> =>
  runCli(['--data-dir', station.dataDir, 'device', ...args, '--user', user]);

const auditActions = (db: Db, after: number): string[] =>
  db
    .prepare('SELECT action FROM audit_log WHERE seq > ? ORDER BY seq')
    .pluck()
    .all(after) as string[];
const auditHead = (db: Db): number =>
  db.prepare('SELECT coalesce(max(seq), 0) FROM audit_log').pluck().get() as number;

/** A terminal session of `user` on a fresh link to `path`, fed `lines`; its output. */
async function terminal(
  db: Db,
  dir: string,
  path: string,
  lines: string[],
  user = 'technician',
): Promise<{ text: string }> {
  const link = await openSerialLink(path);
  const term = DeviceTerminal.open(
    db,
    authenticate(db, user, DEV_PIN),
    { printer: new PrinterClient(link), encoder: new EncoderClient(link) },
    () => openStationCustody(dir),
  );
  const input = new PassThrough();
  const out: string[] = [];
  const done = runTerminal(term, input, (l) => out.push(l));
  input.end(lines.join('\n') + '\n');
  await done;
  await link.close();
  return { text: out.join('\n') };
}

describe('station device', () => {
  it('info prints identity and status, also as JSON', async () => {
    const text = await device(['info', '--port', sim.stationPath]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/model: +PersoSim P-1 passport printer/);
    expect(text.stdout).toMatch(/status: +ready; booklet position: none/);
    const json = await device(['info', '--port', sim.stationPath, '--json']);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as {
      identity: { serialNumber: string };
      status: { position: string };
    };
    expect(doc.identity.serialNumber).toBe('SIM-0001');
    expect(doc.status.position).toBe('none');
  });

  it('prints test patterns and refuses unknown kinds', async () => {
    const before = sim.device.printLog.length;
    const r = await device(['test-pattern', '--port', sim.stationPath, 'colour-bars']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('printed the colour-bars test pattern');
    expect(sim.device.printLog.slice(before)).toEqual([
      { kind: 'test-pattern', detail: 'colour-bars' },
    ]);
    const bad = await device(['test-pattern', '--port', sim.stationPath, 'stripes']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown test pattern "stripes"/);
    sim.inject('ribbon-out');
    const out = await device(['test-pattern', '--port', sim.stationPath, 'nozzle']);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/TEST_PATTERN failed: ribbon is out/);
    sim.inject('ribbon-replace');
  });

  it('remembers the chosen device', async () => {
    const none = await device(['info']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no device given: pass --port/);
    const dir = station.dataDir;
    const use = await runCli(['--data-dir', dir, 'device', 'use', '--port', sim.stationPath]);
    expect(use.code).toBe(0);
    expect(use.stdout).toMatch(/using PersoSim P-1 passport printer \(SIM-0001\)/);
    const saved = JSON.parse(readFileSync(join(dir, 'devices.json'), 'utf8')) as {
      path: string;
    };
    expect(saved.path).toBe(sim.stationPath);
    const info = await device(['info', '--json']);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout).port).toBe(sim.stationPath);
  });

  it('names a port that cannot be opened, a bad baud rate, and an unanswering port', async () => {
    const r = await device(['info', '--port', '/dev/does-not-exist']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot open serial port \/dev\/does-not-exist/);
    const b = await device(['info', '--port', sim.stationPath, '--baud', 'fast']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/--baud must be/);
    // A port that opens but where no device answers (the far end of a pty pair nobody holds).
    const pair = await createSocatPair();
    const silent = await device(['info', '--port', pair.stationPath]);
    expect(silent.code).toBe(1);
    expect(silent.stderr).toMatch(
      new RegExp(
        `no device answers on ${pair.stationPath}: no acknowledgement .* after \\d+ attempts`,
      ),
    );
    expect(silent.stdout).toBe('');
  });

  it('list reports ports, or says clearly why it cannot', async () => {
    const r = await runCli(['device', 'list', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { serial: unknown[]; hid: unknown[]; problems: string[] };
    expect(Array.isArray(doc.serial)).toBe(true);
    for (const p of doc.problems) expect(p).toMatch(/udevadm|libusb|HID/);
    const text = await runCli(['device', 'list']);
    expect(text.stdout).toMatch(/serial ports \(\d+\):/);
  });

  it('list names a missing udevadm instead of crashing', async () => {
    const path = process.env.PATH;
    process.env.PATH = join(dataDir, 'no-such-bin');
    let r;
    try {
      r = await runCli(['device', 'list', '--json']);
    } finally {
      process.env.PATH = path;
    }
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { serial: unknown[]; problems: string[] };
    expect(doc.serial).toEqual([]);
    expect(doc.problems.join('\n')).toMatch(
      /cannot list serial ports .*needs udevadm .*Type the port path instead/,
    );
  });

  it('info, test-pattern and the terminal refuse anyone but a signed-in technician or admin', async () => {
    const prints = sim.device.printLog.length;
    const port = ['--port', sim.stationPath];
    const dir = ['--data-dir', station.dataDir, 'device'];
    for (const cmd of [['terminal'], ['info'], ['test-pattern', 'nozzle']]) {
      const anon = await runCli([...dir, ...cmd, ...port]);
      expect(anon.code).toBe(1);
      expect(anon.stderr).toMatch(/--user <name> is required to /);
      const op = await device([...cmd, ...port], 'operator');
      expect(op.code).toBe(1);
      expect(op.stderr).toMatch(
        /operator \(operator\) may not .*: it needs the role technician or admin/,
      );
    }
    process.env.STATION_PIN = '135799';
    try {
      const wrong = await device(['terminal', ...port]);
      expect(wrong.code).toBe(1);
      expect(wrong.stdout).toBe('');
    } finally {
      process.env.STATION_PIN = DEV_PIN;
    }
    expect(sim.device.printLog.length).toBe(prints);
  });

  it('audits device info and test patterns', async () => {
    const before = auditHead(station.db);
    expect((await device(['info', '--port', sim.stationPath])).code).toBe(0);
    expect((await device(['test-pattern', '--port', sim.stationPath, 'nozzle'])).code).toBe(0);
    expect(auditActions(station.db, before)).toEqual(['device.info', 'device.maintenance']);
  });

  it('terminal: free commands go, a production booklet cannot be fed, moved, printed, ejected or written', async () => {
    // A production booklet passed intake (operator) and sits at the encoder, in process.
    const custody = await openStationCustody(station.dataDir);
    const op = await openSerialLink(sim.stationPath);
    const printer = new PrinterClient(op);
    const accepted = await intakeNextBooklet({
      db: station.db,
      actor: station.actor('operator'),
      printer,
      encoder: new EncoderClient(op),
      custody,
    });
    await op.close();
    await custody.close();
    expect(accepted.decision).toBe('accepted');
    const serial = sim.device.current!.booklet.printedSerial;
    const counters = { ...sim.device.counters };
    const prints = sim.device.printLog.length;
    const before = auditHead(station.db);
    const job = beginPayload(PAGE).toString('hex');
    const refused = [
      'FEED',
      '0x10',
      'MOVE_TO_ENCODER',
      '0x12',
      `PRINT_DATA_PAGE ${job}`,
      `0x13 ${job}`,
      'EJECT 00',
      '0x15 01',
      'TRANSCEIVE 00da006306cafebabe1234',
      '0x42 00e0000002aabb',
      '0x42 0cd6000002aabb',
      'TRANSCEIVE 8050010008' + '00'.repeat(8),
      '0x77',
    ];
    const { text } = await terminal(station.db, station.dataDir, sim.stationPath, [
      'IDENTIFY',
      'GET_STATUS',
      'DEBUG "cover-open"',
      '0x18',
      'DEBUG "cover-close"',
      'NOPE',
      ...refused,
      'READ_SERIAL',
      'TRANSCEIVE 00a4040c07a0000002471001',
    ]);
    expect(text).toMatch(/>> CMD IDENTIFY seq=\d+/);
    expect(text).toMatch(/<< RSP IDENTIFY seq=\d+ to=\d+ OK/);
    expect(text).toMatch(/<< EVT COVER_OPENED/);
    expect(text).toMatch(/\?\? unknown command "NOPE"/);
    expect(text).toMatch(/== GET_COUNTERS: OK/);
    expect(text).toMatch(/>> ACK seq=\d+/);
    expect(text).toMatch(new RegExp(`== READ_SERIAL: OK ${Buffer.from(serial).toString('hex')}`));
    expect(text).toMatch(/== TRANSCEIVE: OK SW [0-9a-f]{4} \+0 bytes \(not shown\)/);
    expect(text.match(/^!! refused: /gm)).toHaveLength(refused.length);
    expect(text).toMatch(
      /!! refused: FEED is refused in the terminal: a booklet enters the transport only through test intake/,
    );
    expect(text).toMatch(
      /!! refused: PRINT_DATA_PAGE is refused: the booklet in the transport did not pass test intake in this session/,
    );
    expect(text).toMatch(/!! refused: TRANSCEIVE \(CHIP_WRITE\) is refused/);
    expect(text).toMatch(/!! refused: TRANSCEIVE \(CHIP_AUTH\) is refused/);
    expect(text).toMatch(/!! refused: 0x77 is not a command of the station protocol/);
    // Nothing guarded reached the wire, the device or the booklet.
    expect(text).not.toMatch(/>> CMD (FEED|MOVE_TO_ENCODER|PRINT_DATA_PAGE|EJECT|0x77)/);
    expect(text).not.toMatch(/>> CMD TRANSCEIVE .*APDU (00da|00e0|0cd6|8050)/);
    expect(sim.device.counters).toMatchObject({
      fed: counters.fed,
      printed: counters.printed,
      ejectedOutput: counters.ejectedOutput,
      ejectedReject: counters.ejectedReject,
    });
    expect(sim.device.printLog.length).toBe(prints);
    expect(sim.device.current!.booklet.printedSerial).toBe(serial);
    expect(sim.device.current!.chip!.listFiles()).toEqual([]);
    const actions = auditActions(station.db, before);
    expect(actions[0]).toBe('device.terminal.opened');
    expect(actions.filter((a) => a === 'device.terminal.refused')).toHaveLength(refused.length);
    expect(actions.filter((a) => a === 'device.terminal.debug')).toHaveLength(2);
    expect(actions.at(-1)).toBe('device.terminal.closed');
    // Clean up: the restart path, and a supervisor clears the transport.
    recoverIntakeJobs(station.db, station.restart(), station.actor('supervisor'));
    const clear = await openSerialLink(sim.stationPath);
    await new PrinterClient(clear).eject(
      'output',
      permitClearTransport(
        station.db,
        station.actor('supervisor'),
        new PrinterClient(clear),
        'test',
      ),
    );
    await clear.close();
    expect(lookupBooklet(station.db, serial)!.state).toBe('allocated');
  });

  it('terminal: after test intake of a test booklet the session moves, prints, writes and ejects it, and no other', async () => {
    const booklets = [
      makeBooklet({ serial: 'PA7000001', profileId: OUR_PROFILE }),
      makeBooklet({ serial: 'PA7000002', profileId: OUR_PROFILE }),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'station-terminal-'));
    await seedStation(
      dir,
      seedFor([{ booklet: booklets[0]!, stockClass: 'test' }, { booklet: booklets[1]! }]),
      { ...process.env, ...DEV_ENV },
    );
    const lock = acquireStationLock(dir, { command: 'terminal test' });
    const db = openStationDb(dir);
    const sim2 = await startSimulator({ hopper: { version: 1, booklets } });
    try {
      // The page goes as BEGIN, DATA, COMMIT (docs/protocol.md); the fresh printer numbers it 1.
      const job = beginPayload(PAGE).toString('hex');
      const data = dataPayload(1, 0, PAGE.data).toString('hex');
      const commit = commitPayload(1).toString('hex');
      const { text } = await terminal(db, dir, sim2.stationPath, [
        `PRINT_DATA_PAGE ${job}`, // nothing has passed test intake yet
        'intake-test',
        'MOVE_TO_ENCODER',
        'TRANSCEIVE 00da006306cafebabe1234',
        `0x13 ${job}`,
        `PRINT_DATA_PAGE ${data}`,
        `PRINT_DATA_PAGE ${commit}`,
        'READ_MRZ',
        'EJECT 00',
        `PRINT_DATA_PAGE ${job}`, // the booklet has left: the permit ended with the eject
        'FEED',
        'intake-test', // production stock: refused by test intake, to the reject tray
        `PRINT_DATA_PAGE ${job}`,
        '0x15 00',
      ]);
      expect(text).toMatch(/== test intake: PA7000001 accepted \(job \d+\)/);
      expect(text).toMatch(/== test intake: PA7000002 refused NOT_AVAILABLE/);
      expect(text).toMatch(/== MOVE_TO_ENCODER: OK/);
      expect(text).toMatch(/>> CMD TRANSCEIVE seq=\d+ APDU 00da0063 \+7 bytes \(not shown\)/);
      expect(text).toMatch(/== TRANSCEIVE: OK SW [0-9a-f]{4} \+0 bytes \(not shown\)/);
      expect(text).toMatch(/CMD PRINT_DATA_PAGE seq=\d+ 44 bytes of personal data \(not shown\)/);
      expect(text).toMatch(
        new RegExp(`CMD PRINT_DATA_PAGE seq=\\d+ ${PAGE.length + 7} bytes of personal data`),
      );
      expect(text.match(/== PRINT_DATA_PAGE: OK/g)).toHaveLength(3);
      expect(text).toMatch(/== READ_MRZ: OK 89 bytes of personal data \(not shown\)/);
      expect(text).toMatch(/== EJECT: OK/);
      expect(text.match(/>> CMD PRINT_DATA_PAGE /g)).toHaveLength(3);
      expect(text.match(/^!! refused: /gm)).toHaveLength(5);
      expect(text).not.toMatch(/cafebabe/);
      expect(text).not.toMatch(new RegExp(Buffer.from(TERMINAL_MRZ[1]).toString('hex')));
      // The test booklet was printed on and is used up; the production one is untouched.
      expect(
        sim2.outputTray.map((b) => [
          b.booklet.printedSerial,
          b.printed && readMrz(printedRaster(b.printed)).lines,
        ]),
      ).toEqual([['PA7000001', TERMINAL_MRZ]]);
      expect(sim2.rejectTray.map((b) => [b.booklet.printedSerial, b.printed])).toEqual([
        ['PA7000002', undefined],
      ]);
      expect(lookupBooklet(db, 'PA7000001')!.state).toBe('test_consumed');
      expect(lookupBooklet(db, 'PA7000002')!.state).toBe('allocated');
    } finally {
      await sim2.close();
      db.close();
      lock.release();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses terminal lines', () => {
    expect(parseTerminalLine('eject 01')).toEqual({
      code: Command.EJECT,
      payload: Buffer.from([1]),
    });
    expect(parseTerminalLine('0x42 00 a4 04 0c')).toEqual({
      code: 0x42,
      payload: Buffer.from('00a4040c', 'hex'),
    });
    expect(parseTerminalLine('debug "late 10"').payload.toString()).toBe('late 10');
    expect(() => parseTerminalLine('FEED zz')).toThrow(/hex bytes/);
  });
});

describe('station simulator', () => {
  it('lists scenarios, profiles and faults', async () => {
    const r = await runCli(['simulator', '--list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/scenario default:/);
    expect(r.stdout).toMatch(/profile zero-latency:/);
    expect(r.stdout).toMatch(/fault corrupt-crc/);
  });

  it('runs as a process, prints its port as JSON, takes faults on stdin, stops on SIGTERM', async () => {
    const dump = join(dataDir, 'dump');
    const child = spawn(
      process.execPath,
      ['bin/station.mjs', 'simulator', '--json', '--scenario', 'faulty-stock', '--dump', dump],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    try {
      const lines: string[] = [];
      const first = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          lines.push(...d.toString().split('\n').filter(Boolean));
          if (lines.length) resolve(lines[0]!);
        });
        child.once('exit', (c) => reject(new Error(`simulator exited ${c}`)));
      });
      const { stationPath, booklets, ...rest } = JSON.parse(first) as {
        stationPath: string;
        booklets: number;
      };
      expect(booklets).toBe(6);
      expect(rest).toMatchObject({ dump });
      expect(readdirSync(dump)).toEqual([]);
      child.stdin.write('jam\n');
      await new Promise((r) => setTimeout(r, 200));
      expect(lines).toContain('ok jam');
      const r = await device(['info', '--port', stationPath, '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).status.flags.JAM).toBe(true);
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('refuses a dump directory it cannot create', async () => {
    const file = join(dataDir, 'not-a-dir');
    writeFileSync(file, 'x');
    const r = await runCli(['simulator', '--dump', join(file, 'dump')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot create the dump directory .*not-a-dir\/dump: ENOTDIR/);
  });

  it('refuses an invalid hopper file with the field named', async () => {
    const r = await runCli(['simulator', '--hopper', '/nonexistent/hopper.json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot read hopper file \/nonexistent\/hopper.json/);
    const h = defaultHopper(2) as unknown as { booklets: Record<string, unknown>[] };
    h.booklets[1]!.chipUid = 'not hex';
    const file = join(dataDir, 'bad-hopper.json');
    writeFileSync(file, JSON.stringify(h));
    const bad = await runCli(['simulator', '--hopper', file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad-hopper\.json: booklets\.1\.chipUid: /);
  });
});
