/**
 * Intake cost on the station: CPU time of THIS process per booklet for intake (feed, read the
 * serial, detect the chip, read its record, ledger checks, life cycle, SCP03 authentication with
 * the diversified key, accept) plus the release of the accepted booklet, with the simulator in
 * a separate process (`station simulator --scenario bench-stock --profile zero-latency`) over
 * a socat pty pair and the development key file. Target: median < 20 ms of station CPU.
 *
 *   node bin/run-ts.mjs bench/intake.ts [booklets] [warm-up]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EncoderClient } from '../drivers/encoder.ts';
import { openSerialLink } from '../drivers/open.ts';
import { PrinterClient } from '../drivers/printer.ts';
import { seedStation } from '../station/dev-seed.ts';
import { openStationDb } from '../station/identity.ts';
import { intakeNextBooklet, releaseAccepted } from '../station/intake/intake.ts';
import { openStationCustody } from '../station/keys/station-custody.ts';
import { acquireStationLock } from '../station/station-lock.ts';
import { authenticate } from '../station/users.ts';
import { BENCH_STOCK_SIZE, scenario } from '../simulator/scenarios/bench-stock.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { startSimulatorProcess } from './simulator-process.ts';

const warmUp = Number(process.argv[3] ?? 20);
const count = Math.min(
  Number(process.argv[2] ?? BENCH_STOCK_SIZE - warmUp),
  BENCH_STOCK_SIZE - warmUp,
);
if (!(count > 0) || !(warmUp >= 0)) {
  console.error(`usage: bench/intake.ts [booklets <= ${BENCH_STOCK_SIZE - warmUp}] [warm-up]`);
  process.exit(2);
}

const env = {
  ...process.env,
  STATION_MODE: 'development',
  STATION_DEV_KEYS_PASSPHRASE: 'bench passphrase (development only)',
};

const ms = (us: number): string => (us / 1000).toFixed(2);
const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

const dataDir = mkdtempSync(join(tmpdir(), 'bench-intake-'));
const sim = await startSimulatorProcess({ scenario: 'bench-stock', env });
try {
  await seedStation(dataDir, scenario.seed!(), env);
  // Intake runs only in the process holding the data directory, as the station does.
  const lock = acquireStationLock(dataDir, { command: 'bench intake' });
  const db = openStationDb(dataDir);
  const custody = await openStationCustody(dataDir, env);
  const link = await openSerialLink(sim.path);
  const printer = new PrinterClient(link);
  const encoder = new EncoderClient(link);
  const actor = authenticate(db, 'operator', DEV_PIN);
  const opts = { db, actor, custody, printer, encoder };

  const cpu: number[] = [];
  const wall: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < warmUp + count; i++) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    const o = await intakeNextBooklet(opts);
    if (o.decision !== 'accepted')
      throw new Error(`booklet ${o.facts.printedSerial} refused: ${o.reason}`);
    await releaseAccepted(opts, o);
    const c = process.cpuUsage(c0);
    if (i < warmUp) continue;
    cpu.push(c.user + c.system);
    wall.push((performance.now() - w0) * 1000);
  }
  const total = performance.now() - t0;
  await link.close();
  await custody.close();
  db.close();
  lock.release();

  const sorted = [...cpu].sort((a, b) => a - b);
  const wallSorted = [...wall].sort((a, b) => a - b);
  const mean = cpu.reduce((a, b) => a + b, 0) / cpu.length;
  console.log(
    `intake + release of ${count} booklets (after ${warmUp} warm-up), simulator in its own process, zero-latency profile`,
  );
  console.log(
    `station CPU per booklet (ms): median ${ms(quantile(sorted, 0.5))}  p90 ${ms(quantile(sorted, 0.9))}  p99 ${ms(quantile(sorted, 0.99))}  max ${ms(sorted.at(-1)!)}  mean ${ms(mean)}`,
  );
  console.log(
    `wall per booklet (ms):        median ${ms(quantile(wallSorted, 0.5))}  p90 ${ms(quantile(wallSorted, 0.9))}  max ${ms(wallSorted.at(-1)!)};  total ${(total / 1000).toFixed(2)} s for ${warmUp + count}`,
  );
  const median = quantile(sorted, 0.5) / 1000;
  console.log(
    `target median < 20 ms: ${median < 20 ? 'met' : 'NOT met'} (ratio ${(median / 20).toFixed(2)})`,
  );
  if (median >= 20) process.exitCode = 1;
} finally {
  await sim.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
