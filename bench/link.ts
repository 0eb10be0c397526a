/**
 * The device link, two ways:
 *
 * 1. Station CPU per round trip. The simulator runs in its own process (`station simulator
 *    --profile zero-latency`) over a socat pty pair, as in bench/personalize.ts; this process is
 *    the station. For GET_STATUS, a short READ BINARY (one at a time) and READ BINARY eight in
 *    flight (as the encoder pipelines UPDATE BINARY chunks), it prints the CPU of this process
 *    (process.cpuUsage: every thread, the libuv pool included) per round trip: one COMMAND out,
 *    its ACK in, the RESPONSE in, its ACK out. Median of the runs.
 *
 * 2. Throughput: write 32 KB to a chip with UPDATE BINARY through the real serial stack over
 *    socat, the simulator (in this process) throttling the line to 115200 baud 8N1 in both
 *    directions. Prints the time and its ratio to the raw bytes' time on the wire
 *    (32768 * 10 / 115200 s). Target: <= 1.25.
 *
 *   node bin/run-ts.mjs bench/link.ts [runs (default 5)] [round trips per run (default 2000)]
 *
 * BENCH_LINK=cpu or BENCH_LINK=throughput runs one part only.
 */
import { EncoderClient } from '../drivers/encoder.ts';
import { Link } from '../drivers/link.ts';
import { openSerialLink } from '../drivers/open.ts';
import { claimPermitAuthority, type PermitAuthority } from '../drivers/permit.ts';
import { PrinterClient } from '../drivers/printer.ts';
import { commandName } from '../drivers/protocol.ts';
import { SerialTransport } from '../drivers/serial.ts';
import {
  EMRTD_AID,
  makeBooklet,
  PREPERSO_FID,
  startSimulator,
  type ChipProfileName,
} from '../simulator/index.ts';
import { startSimulatorProcess } from './simulator-process.ts';

const runs = Number(process.argv[2] ?? 5);
const roundTrips = Number(process.argv[3] ?? 2000);
if (!(runs > 0) || !(roundTrips >= 8)) {
  console.error('usage: bench/link.ts [runs] [round trips per run (>= 8)]');
  process.exit(2);
}
const part = process.env.BENCH_LINK;
// A drivers-only benchmark: no station (and no device gate) runs in this process, so it holds
// the permit authority itself to move booklets and write chips.
const permits = claimPermitAuthority();

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Station CPU (µs) and wall time (µs) per round trip of `fn`, called `n` times. */
async function perRoundTrip(
  n: number,
  perCall: number,
  fn: () => Promise<unknown>,
): Promise<{ cpu: number; system: number; wall: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n / perCall; i++) await fn();
  const c = process.cpuUsage(c0);
  const wall = (performance.now() - t0) * 1000;
  const done = Math.floor(n / perCall) * perCall;
  return { cpu: (c.user + c.system) / done, system: c.system / done, wall: wall / done };
}

async function measureCpu(authority: PermitAuthority): Promise<void> {
  const sim = await startSimulatorProcess({ scenario: 'all-good' });
  const link = await openSerialLink(sim.path);
  try {
    const printer = new PrinterClient(link);
    const enc = new EncoderClient(link);
    const permit = authority.mint({
      purpose: 'link benchmark',
      operations: ['FEED', 'MOVE_TO_ENCODER'],
      links: [link],
    });
    await printer.feed(permit);
    await printer.moveToEncoder(permit);
    await enc.field(true);
    await enc.detectChip();
    await enc.selectFile(PREPERSO_FID);
    const readBinary = Buffer.from('00b0000020', 'hex'); // 32 bytes of the pre-perso record
    const read = async (): Promise<void> => {
      const r = await enc.transmit(readBinary);
      if (r.length !== 34 || r.readUInt16BE(32) !== 0x9000)
        throw new Error(`READ BINARY answered ${r.toString('hex')}`);
    };
    const cases: [string, number, () => Promise<unknown>][] = [
      ['GET_STATUS, one at a time', 1, () => printer.status()],
      ['READ BINARY, one at a time', 1, read],
      ['READ BINARY, 8 in flight', 8, () => Promise.all(Array.from({ length: 8 }, read))],
    ];
    const results = new Map<string, { cpu: number[]; system: number[]; wall: number[] }>();
    for (const [, per, fn] of cases) await perRoundTrip(Math.min(400, roundTrips), per, fn); // warm-up
    // Interleaved runs, so that the machine's load falls on every case alike.
    for (let r = 0; r < runs; r++)
      for (const [name, per, fn] of cases) {
        const m = await perRoundTrip(roundTrips, per, fn);
        const e = results.get(name) ?? { cpu: [], system: [], wall: [] };
        e.cpu.push(m.cpu);
        e.system.push(m.system);
        e.wall.push(m.wall);
        results.set(name, e);
      }
    console.log(
      `station CPU per round trip (COMMAND, ACK, RESPONSE, ACK) over socat, simulator in its own process, zero-latency; ${runs} runs of ${roundTrips}`,
    );
    for (const [name, e] of results)
      console.log(
        `  ${name.padEnd(28)} CPU median ${median(e.cpu).toFixed(0).padStart(4)} µs, of it system ${median(e.system).toFixed(0)} (runs ${e.cpu.map((x) => x.toFixed(0)).join(' ')})  wall median ${median(e.wall).toFixed(0)} µs`,
      );
  } finally {
    await link.close();
    await sim.stop();
  }
}

const SIZE = 32768;
const wireSeconds = (SIZE * 10) / 115200;

async function measureThroughput(
  authority: PermitAuthority,
  profile: ChipProfileName,
): Promise<number[]> {
  const booklets = Array.from({ length: runs }, (_, i) =>
    makeBooklet({ serial: `PB${4000001 + i}`, chipProfile: profile }),
  );
  const sim = await startSimulator({
    hopper: { version: 1, booklets },
    profile: 'throttled',
    transportLock: false,
  });
  const transport = await SerialTransport.open(sim.stationPath, { baudRate: 115200 });
  const link = new Link(transport, { commandName });
  await link.hello();
  const enc = new EncoderClient(link);
  const permit = authority.mint({
    purpose: 'link benchmark',
    operations: ['FEED', 'MOVE_TO_ENCODER', 'CHIP_WRITE', 'EJECT'],
    links: [link],
  });
  const data = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) data[i] = (i * 31) & 0xff;
  const times: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      await link.request(0x10, Buffer.alloc(0), { timeoutMs: 5000, permit }); // FEED
      await link.request(0x12, Buffer.alloc(0), { timeoutMs: 5000, permit }); // MOVE_TO_ENCODER
      await enc.field(true);
      await enc.detectChip();
      await enc.selectApplication(EMRTD_AID);
      // Two files of 16 KB, as DG2 and the rest of the LDS would be; CREATE FILE is not timed.
      for (const fid of [0x0102, 0x0103]) {
        await enc.transceiveOk(
          {
            cla: 0,
            ins: 0xe0,
            p1: 0,
            p2: 0,
            data: Buffer.from(`620880024000830201${fid.toString(16).slice(-2)}`, 'hex'),
          },
          'CREATE FILE',
          permit,
        );
      }
      const t0 = performance.now();
      await enc.selectFile(0x0102);
      await enc.updateBinary(0, data.subarray(0, SIZE / 2), permit);
      await enc.selectFile(0x0103);
      await enc.updateBinary(0, data.subarray(SIZE / 2), permit);
      times.push((performance.now() - t0) / 1000);
      const chip = sim.device.current?.chip;
      const written = Buffer.concat([chip!.readFile(0x0102)!, chip!.readFile(0x0103)!]);
      if (!written.equals(data)) throw new Error('chip content differs from what was written');
      await link.request(0x15, Buffer.from([0]), { timeoutMs: 5000, permit }); // EJECT
    }
  } finally {
    await link.close();
    await sim.close();
  }
  return times;
}

if (part !== 'throughput') await measureCpu(permits);
if (part !== 'cpu') {
  console.log(
    `32 KB chip write over a 115200 baud 8N1 link (raw wire time ${wireSeconds.toFixed(3)} s)`,
  );
  for (const profile of ['emrtd-ext-96k', 'emrtd-short-64k'] as const) {
    const t = median(await measureThroughput(permits, profile));
    console.log(
      `${profile.padEnd(16)} median ${t.toFixed(3)} s  ratio ${(t / wireSeconds).toFixed(3)}  (${runs} runs)`,
    );
  }
}
