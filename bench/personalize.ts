/**
 * Personalization throughput and cost on the station: N whole jobs (take the application,
 * intake, LDS + SOD signed by the development Document Signer, chip write under SCP03, border
 * read-back, print, MRZ read-back, eject, issuance transaction) with the simulator in its own
 * process (`station simulator --scenario bench-perso --profile zero-latency`) over a socat pty
 * pair. Reports jobs per second, the station's CPU per job (process.cpuUsage of this process;
 * target: under 50 ms) and its memory (RSS, heap) at intervals (target: no growth after
 * warm-up).
 *
 *   node bin/run-ts.mjs bench/personalize.ts [jobs (default 1000)] [warm-up (default 20)]
 *
 * BENCH_PROFILE=<file.cpuprofile> writes a V8 CPU profile of the measured jobs only (not the
 * seeding or the warm-up), to open in Chrome DevTools; with BENCH_PROFILE_STEP=<step> (and
 * BENCH_STEPS=1), of that step only (e.g. border-read: from it to the next step), and with
 * BENCH_PROFILE_FAMILY=<chip profile> of the jobs on that chip family only.
 * BENCH_HEAP=<file.heapprofile> writes a sampling heap profile of the measured jobs, counting
 * what was allocated, collected since or not (where the garbage collector's work comes from).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EncoderClient } from '../drivers/encoder.ts';
import { openSerialLink } from '../drivers/open.ts';
import { PrinterClient } from '../drivers/printer.ts';
import { openStationDataKey } from '../station/applications/index.ts';
import { seedStation } from '../station/dev-seed.ts';
import { openStationDb } from '../station/identity.ts';
import { openStationCustody } from '../station/keys/station-custody.ts';
import {
  personalize,
  waitForStatusClear,
  type WaitForOperator,
} from '../station/personalization/job.ts';
import { openStationSigner } from '../station/personalization/signers.ts';
import { acquireStationLock } from '../station/station-lock.ts';
import { authenticate } from '../station/users.ts';
import { BENCH_PERSO_SIZE, scenario } from '../simulator/scenarios/bench-perso.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { startSimulatorProcess } from './simulator-process.ts';

const warmUp = Number(process.argv[3] ?? 20);
const count = Math.min(Number(process.argv[2] ?? 1000), BENCH_PERSO_SIZE - warmUp);
if (!(count > 0) || !(warmUp >= 0)) {
  console.error(`usage: bench/personalize.ts [jobs <= ${BENCH_PERSO_SIZE - warmUp}] [warm-up]`);
  process.exit(2);
}

const env = {
  ...process.env,
  STATION_MODE: 'development',
  STATION_DEV_KEYS_PASSPHRASE: 'bench passphrase (development only)',
};

const ms = (us: number): string => (us / 1000).toFixed(2);
const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

/**
 * BENCH_STEPS=1: station CPU from each step to the next, summed over the measured jobs (where it
 * goes). Each job starts at `take-application` (taking and unsealing the application, the job
 * row) and its last step runs to the job's return.
 */
const stepTotals = new Map<string, number>();
/** The same by chip family, and the link's round trips (requests) by step and family. */
const familySteps = new Map<string, Map<string, { cpu: number; requests: number }>>();
let jobSteps = new Map<string, { cpu: number; requests: number }>();
let lastStep = 'take-application';
let lastCpu = process.cpuUsage();
let requests = 0;
let lastRequests = 0;
let measuring = false;
/** BENCH_PROFILE_STEP=<step>: the times (µs, the profiler's clock) the measured jobs spent in it. */
const profileStep = process.env.BENCH_PROFILE_STEP;
const stepWindows: [number, number][] = [];
/** BENCH_PROFILE_FAMILY=<chip profile>: and of the jobs on that chip family only. */
const profileFamily = process.env.BENCH_PROFILE_FAMILY;
let jobWindowsFrom = 0;
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
function stepCpu(step: string): void {
  if (measuring && profileStep) {
    if (step === profileStep) stepWindows.push([nowUs(), Infinity]);
    else if (lastStep === profileStep && stepWindows.length) stepWindows.at(-1)![1] = nowUs();
  }
  const c = process.cpuUsage(lastCpu);
  if (measuring) {
    stepTotals.set(lastStep, (stepTotals.get(lastStep) ?? 0) + c.user + c.system);
    const s = jobSteps.get(lastStep) ?? { cpu: 0, requests: 0 };
    s.cpu += c.user + c.system;
    s.requests += requests - lastRequests;
    jobSteps.set(lastStep, s);
  }
  lastStep = step;
  lastRequests = requests;
  lastCpu = process.cpuUsage();
}

/** This process's I/O counters (Linux): bytes and calls written and read, by any means. */
function ioCounters(): Record<string, number> | undefined {
  if (!existsSync('/proc/self/io')) return undefined;
  return Object.fromEntries(
    readFileSync('/proc/self/io', 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(': '))
      .map(([k, v]) => [k!, Number(v)]),
  );
}

const dataDir = mkdtempSync(join(tmpdir(), 'bench-perso-'));
const sim = await startSimulatorProcess({ scenario: 'bench-perso', env });
try {
  const s0 = performance.now();
  await seedStation(dataDir, scenario.seed!(), env);
  console.log(
    `seeded ${BENCH_PERSO_SIZE} booklets and applications in ${((performance.now() - s0) / 1000).toFixed(1)} s`,
  );
  const lock = acquireStationLock(dataDir, { command: 'bench personalize' });
  const db = openStationDb(dataDir);
  const custody = await openStationCustody(dataDir, env);
  const dataKey = await openStationDataKey(dataDir, { development: true, env });
  const signer = openStationSigner(dataDir, 'production', env);
  const link = await openSerialLink(sim.path);
  const request = link.request.bind(link);
  link.request = (...args) => {
    requests++;
    return request(...args);
  };
  const printer = new PrinterClient(link);
  const encoder = new EncoderClient(link);
  const actor = authenticate(db, 'operator', DEV_PIN);
  // A ribbon (and the ink) lasts 1,000 pages: the job pauses for it, as on a real station, and
  // the bench replaces it like the operator would; other faults are not expected here.
  const replaced: string[] = [];
  const clear = waitForStatusClear(printer, { pollMs: 20, timeoutMs: 10_000 });
  const waitForOperator: WaitForOperator = async (p) => {
    const remedies: Record<string, string> = {
      RIBBON_OUT: 'ribbon-replace',
      INK_OUT: 'ink-replace',
    };
    const remedy = remedies[p.status];
    if (!remedy) throw new Error(`unexpected pause for ${p.status} during ${p.step}`);
    replaced.push(p.status);
    sim.type(remedy);
    await clear(p);
  };
  const opts = { db, actor, custody, dataKey, signer, printer, encoder, waitForOperator };

  const cpu: number[] = [];
  let userTotal = 0;
  let systemTotal = 0;
  // The stock mixes chip families (extended length; short APDUs with 61xx; short, strict Le):
  // the short ones take about seven times the APDUs, so the CPU is also shown by family.
  const chipFamily = new Map(
    scenario.hopper().booklets.map((b) => [b.printedSerial, b.chipProfile]),
  );
  const byFamily = new Map<string, number[]>();
  const memory: { job: number; rss: number; heap: number }[] = [];
  const every = Math.max(1, Math.floor(count / 10));
  let t0 = performance.now();
  let io0: Record<string, number> | undefined;
  const profile = process.env.BENCH_PROFILE ? new Session() : undefined;
  const heapProfile = process.env.BENCH_HEAP ? new Session() : undefined;
  for (let i = 0; i < warmUp + count; i++) {
    if (i === warmUp) {
      if (profile) {
        profile.connect();
        await profile.post('Profiler.enable');
        await profile.post('Profiler.start');
      }
      if (heapProfile) {
        heapProfile.connect();
        await heapProfile.post('HeapProfiler.enable');
        // Every allocation sampled, also of objects collected since: where the heap goes.
        await heapProfile.post('HeapProfiler.startSampling', {
          samplingInterval: 16384,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      }
      t0 = performance.now();
      io0 = ioCounters();
    }
    measuring = i >= warmUp;
    lastStep = 'take-application';
    lastCpu = process.cpuUsage();
    const c0 = process.cpuUsage();
    const o = await personalize({
      ...opts,
      ...(process.env.BENCH_STEPS ? { onStep: stepCpu } : {}),
    });
    if (o.outcome !== 'issued')
      throw new Error(`job ${i} ended ${o.outcome}: ${JSON.stringify(o)}`);
    const c = process.cpuUsage(c0);
    if (process.env.BENCH_STEPS) stepCpu('end');
    if (i < warmUp) continue;
    cpu.push(c.user + c.system);
    userTotal += c.user;
    systemTotal += c.system;
    const family = chipFamily.get(o.serial) ?? 'unknown';
    if (profileFamily && family !== profileFamily) stepWindows.length = jobWindowsFrom;
    jobWindowsFrom = stepWindows.length;
    const fs = familySteps.get(family) ?? new Map<string, { cpu: number; requests: number }>();
    for (const [k, v] of jobSteps) {
      const t = fs.get(k) ?? { cpu: 0, requests: 0 };
      t.cpu += v.cpu;
      t.requests += v.requests;
      fs.set(k, t);
    }
    familySteps.set(family, fs);
    jobSteps = new Map();
    byFamily.set(family, [...(byFamily.get(family) ?? []), c.user + c.system]);
    const done = i - warmUp + 1;
    if (done % every === 0 || done === count) {
      const m = process.memoryUsage();
      memory.push({ job: done, rss: m.rss, heap: m.heapUsed });
    }
  }
  const total = (performance.now() - t0) / 1000;
  const io1 = ioCounters();
  if (profile) {
    const { profile: p } = await profile.post('Profiler.stop');
    if (profileStep) {
      // Only the samples taken in that step: the others are dropped, their time with them.
      let t = p.startTime;
      const samples: number[] = [];
      const deltas: number[] = [];
      let w = 0;
      let last = p.startTime;
      p.samples?.forEach((id, i) => {
        t += p.timeDeltas?.[i] ?? 0;
        while (w < stepWindows.length && stepWindows[w]![1] < t) w++;
        const window = stepWindows[w];
        if (!window || t < window[0]) return;
        samples.push(id);
        deltas.push(Math.min(t - last, t - window[0]));
        last = t;
      });
      p.samples = samples;
      p.timeDeltas = deltas;
    }
    writeFileSync(process.env.BENCH_PROFILE!, JSON.stringify(p));
    profile.disconnect();
  }
  if (heapProfile) {
    const { profile: p } = await heapProfile.post('HeapProfiler.stopSampling');
    writeFileSync(process.env.BENCH_HEAP!, JSON.stringify(p));
    heapProfile.disconnect();
  }
  await link.close();
  signer.close();
  await dataKey.close();
  await custody.close();
  db.close();
  lock.release();

  const sorted = [...cpu].sort((a, b) => a - b);
  const mean = cpu.reduce((a, b) => a + b, 0) / cpu.length;
  console.log(
    `${count} personalization jobs (after ${warmUp} warm-up), simulator in its own process, zero-latency profile`,
  );
  console.log(
    `throughput: ${(count / total).toFixed(2)} jobs/s (${total.toFixed(1)} s)` +
      (replaced.length ? `; paused for ${replaced.join(', ')} (replaced)` : ''),
  );
  console.log(
    `station CPU per job (ms): median ${ms(quantile(sorted, 0.5))}  p90 ${ms(quantile(sorted, 0.9))}  p99 ${ms(quantile(sorted, 0.99))}  max ${ms(sorted.at(-1)!)}  mean ${ms(mean)}`,
  );
  console.log(
    `  of which user ${ms(userTotal / count)} and system (kernel) ${ms(systemTotal / count)} ms per job on average`,
  );
  for (const [family, xs] of [...byFamily].sort()) {
    const f = [...xs].sort((a, b) => a - b);
    console.log(
      `  ${family} (${f.length} jobs): median ${ms(quantile(f, 0.5))}  p90 ${ms(quantile(f, 0.9))}`,
    );
  }
  console.log(
    'memory after job:  ' +
      memory.map((m) => `${m.job}: rss ${mb(m.rss)} MB heap ${mb(m.heap)} MB`).join('; '),
  );
  const first = memory[0]!;
  const last = memory.at(-1)!;
  console.log(
    `memory growth from job ${first.job} to ${last.job}: rss ${mb(last.rss - first.rss)} MB, heap ${mb(last.heap - first.heap)} MB`,
  );
  if (io0 && io1) {
    const per = (k: string): string => ((io1[k]! - io0![k]!) / count).toFixed(0);
    console.log(
      `I/O per job (/proc/self/io): ${per('syscw')} writes of ${(Number(per('wchar')) / 1024).toFixed(0)} KiB, ${per('syscr')} reads of ${(Number(per('rchar')) / 1024).toFixed(0)} KiB; ${(Number(per('write_bytes')) / 1024).toFixed(0)} KiB to storage`,
    );
  }
  if (stepTotals.size) {
    console.log(
      'CPU by step (ms per job, from the step to the next): ' +
        [...stepTotals].map(([k, v]) => `${k} ${(v / 1000 / count).toFixed(1)}`).join(', '),
    );
    for (const [family, steps] of [...familySteps].sort()) {
      const n = byFamily.get(family)?.length ?? 1;
      console.log(
        `  ${family}, ms and link requests per job: ` +
          [...steps]
            .filter(([, v]) => v.cpu / n >= 500 || v.requests > 0)
            .map(
              ([k, v]) => `${k} ${(v.cpu / 1000 / n).toFixed(1)} (${(v.requests / n).toFixed(0)})`,
            )
            .join(', '),
      );
    }
  }
  const median = quantile(sorted, 0.5) / 1000;
  console.log(
    `target CPU per job < 50 ms: ${median < 50 ? 'met' : 'NOT met'} (median ${median.toFixed(1)} ms)`,
  );
  if (median >= 50) process.exitCode = 1;
} finally {
  await sim.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
