/**
 * Link throughput: write 32 KB to a chip with UPDATE BINARY through the real serial stack over
 * socat, the simulator throttling the line to 115200 baud 8N1 in both directions. Prints the time
 * and its ratio to the raw bytes' time on the wire (32768 * 10 / 115200 s). Target: <= 1.25.
 *
 *   node bin/run-ts.mjs bench/link.ts [runs]
 */
import { EncoderClient } from '../drivers/encoder.ts';
import { Link } from '../drivers/link.ts';
import { claimPermitAuthority } from '../drivers/permit.ts';
import { commandName } from '../drivers/protocol.ts';
import { SerialTransport } from '../drivers/serial.ts';
import {
  EMRTD_AID,
  makeBooklet,
  startSimulator,
  type ChipProfileName,
} from '../simulator/index.ts';

const runs = Number(process.argv[2] ?? 5);
// A drivers-only benchmark: no station (and no device gate) runs in this process, so it holds
// the permit authority itself to move booklets and write chips.
const permits = claimPermitAuthority();
const SIZE = 32768;
const wireSeconds = (SIZE * 10) / 115200;

async function measure(profile: ChipProfileName): Promise<number[]> {
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
  const permit = permits.mint({
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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

console.log(
  `32 KB chip write over a 115200 baud 8N1 link (raw wire time ${wireSeconds.toFixed(3)} s)`,
);
for (const profile of ['emrtd-ext-96k', 'emrtd-short-64k'] as const) {
  const t = median(await measure(profile));
  console.log(
    `${profile.padEnd(16)} median ${t.toFixed(3)} s  ratio ${(t / wireSeconds).toFixed(3)}  (${runs} runs)`,
  );
}
