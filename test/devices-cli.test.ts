import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTerminalLine, runTerminal } from '../cli/commands/device.ts';
import { openSerialLink } from '../drivers/open.ts';
import { Command } from '../drivers/protocol.ts';
import { defaultHopper, startSimulator, type RunningSimulator } from '../simulator/index.ts';
import { runCli } from './helpers/cli.ts';
import { closeAllSocatPairs, createSocatPair } from './helpers/socat.ts';

let sim: RunningSimulator;
let dataDir: string;

beforeAll(async () => {
  sim = await startSimulator({ scenario: 'all-good' });
  dataDir = mkdtempSync(join(tmpdir(), 'station-cli-'));
});

afterAll(async () => {
  await sim.close();
  await closeAllSocatPairs();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('station device', () => {
  it('info prints identity and status, also as JSON', async () => {
    const text = await runCli(['device', 'info', '--port', sim.stationPath]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/model: +PersoSim P-1 passport printer/);
    expect(text.stdout).toMatch(/status: +ready; booklet position: none/);
    const json = await runCli(['device', 'info', '--port', sim.stationPath, '--json']);
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
    const r = await runCli(['device', 'test-pattern', '--port', sim.stationPath, 'colour-bars']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('printed the colour-bars test pattern');
    expect(sim.device.printLog.slice(before)).toEqual([
      { kind: 'test-pattern', detail: 'colour-bars' },
    ]);
    const bad = await runCli(['device', 'test-pattern', '--port', sim.stationPath, 'stripes']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown test pattern "stripes"/);
    sim.inject('ribbon-out');
    const out = await runCli(['device', 'test-pattern', '--port', sim.stationPath, 'nozzle']);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/TEST_PATTERN failed: ribbon is out/);
    sim.inject('ribbon-replace');
  });

  it('remembers the chosen device', async () => {
    const none = await runCli(['--data-dir', dataDir, 'device', 'info']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no device given: pass --port/);
    const use = await runCli(['--data-dir', dataDir, 'device', 'use', '--port', sim.stationPath]);
    expect(use.code).toBe(0);
    expect(use.stdout).toMatch(/using PersoSim P-1 passport printer \(SIM-0001\)/);
    const saved = JSON.parse(readFileSync(join(dataDir, 'devices.json'), 'utf8')) as {
      path: string;
    };
    expect(saved.path).toBe(sim.stationPath);
    const info = await runCli(['--data-dir', dataDir, 'device', 'info', '--json']);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout).port).toBe(sim.stationPath);
  });

  it('names a port that cannot be opened, a bad baud rate, and an unanswering port', async () => {
    const r = await runCli(['device', 'info', '--port', '/dev/does-not-exist']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot open serial port \/dev\/does-not-exist/);
    const b = await runCli(['device', 'info', '--port', sim.stationPath, '--baud', 'fast']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/--baud must be/);
    // A port that opens but where no device answers (the far end of a pty pair nobody holds).
    const pair = await createSocatPair();
    const silent = await runCli(['device', 'info', '--port', pair.stationPath]);
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

  it('terminal sends typed commands and shows decoded frames both ways', async () => {
    const link = await openSerialLink(sim.stationPath);
    const input = new PassThrough();
    const lines: string[] = [];
    const done = runTerminal(link, input, (l) => lines.push(l));
    input.end('IDENTIFY\nGET_STATUS\nDEBUG "cover-open"\nFEED\nNOPE\n0x18\nDEBUG "cover-close"\n');
    await done;
    await link.close();
    const text = lines.join('\n');
    expect(text).toMatch(/>> CMD IDENTIFY seq=\d+/);
    expect(text).toMatch(/<< RSP IDENTIFY seq=\d+ to=\d+ OK/);
    expect(text).toMatch(/<< EVT COVER_OPENED/);
    expect(text).toMatch(/== FEED: COVER_OPEN/);
    expect(text).toMatch(/\?\? unknown command "NOPE"/);
    expect(text).toMatch(/== GET_COUNTERS: OK/);
    expect(text).toMatch(/>> ACK seq=\d+/);
  });

  it('terminal never shows APDU data, print jobs or the MRZ read back', async () => {
    const link = await openSerialLink(sim.stationPath);
    const input = new PassThrough();
    const lines: string[] = [];
    const done = runTerminal(link, input, (l) => lines.push(l));
    const job = Buffer.from('02000a5345435245544d525a31', 'hex'); // MRZ line "SECRETMRZ1"
    input.end(
      [
        'FEED',
        'MOVE_TO_ENCODER',
        'FIELD 01',
        'DETECT_CHIP',
        'TRANSCEIVE 00a4040c07a0000002471001',
        'TRANSCEIVE 00da006306cafebabe1234',
        `PRINT_DATA_PAGE ${job.toString('hex')}`,
        'READ_MRZ',
        'EJECT 01',
      ].join('\n') + '\n',
    );
    await done;
    await link.close();
    const text = lines.join('\n');
    expect(text).toMatch(/APDU 00da0063 \+7 bytes \(not shown\)/);
    expect(text).toMatch(/== TRANSCEIVE: OK SW 9000 \+0 bytes \(not shown\)/);
    expect(text).toMatch(/CMD PRINT_DATA_PAGE seq=\d+ 13 bytes of personal data \(not shown\)/);
    expect(text).toMatch(/== READ_MRZ: OK 10 bytes of personal data \(not shown\)/);
    expect(text).not.toMatch(/cafebabe/);
    expect(text).not.toMatch(/5345435245544d525a31/);
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
    const child = spawn(
      process.execPath,
      ['bin/station.mjs', 'simulator', '--json', '--scenario', 'faulty-stock'],
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
      const { stationPath, booklets } = JSON.parse(first) as {
        stationPath: string;
        booklets: number;
      };
      expect(booklets).toBe(6);
      child.stdin.write('jam\n');
      await new Promise((r) => setTimeout(r, 200));
      expect(lines).toContain('ok jam');
      const r = await runCli(['device', 'info', '--port', stationPath, '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).status.flags.JAM).toBe(true);
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
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
