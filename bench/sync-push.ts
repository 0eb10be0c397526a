/**
 * Sync push benchmark: a central office on a throwaway PostgreSQL cluster, in its own process
 * (`central start` with DATABASE_URL); a station in this process with 10,000 issuance records
 * waiting (each about the size of a real one: numbers, hashes and the signer certificate).
 * Reports the time to push them all in batches, the station's peak memory (this process's RSS
 * and heap, sampled every 5 ms), and the ratio against one record per request (measured over
 * `--single` records and scaled to the same count).
 *
 *   node bin/run-ts.mjs bench/sync-push.ts [--records 10000] [--single 1000] [--batch 1000]
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { auditKeyOf } from '../station/audit.ts';
import { auditPublicKeyPem } from '../station/keys/audit-key.ts';
import { enqueueOutbox } from '../station/outbox.ts';
import { createMemorySyncKey, enrolStation, SyncService } from '../station/sync/index.ts';
import { createTestStation, TEST_STATION } from '../station/testing.ts';
import { startTestPostgres } from '../test/helpers/postgres.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const RECORDS = arg('records', 10_000);
const SINGLE = arg('single', 1_000);
const BATCH = arg('batch', 1_000);
const root = join(import.meta.dirname, '..');
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

const pg = await startTestPostgres();
const centralDir = mkdtempSync(join(tmpdir(), 'central-bench-'));
const central = spawn(
  process.execPath,
  [join(root, 'bin/central.mjs'), 'start', '--data-dir', centralDir],
  { env: { ...process.env, DATABASE_URL: pg.url }, stdio: ['ignore', 'pipe', 'inherit'] },
);
const st = createTestStation();
try {
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    central.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    central.once('exit', (code) => reject(new Error(`central exited with ${code}`)));
  });
  const coded = spawnSync(
    process.execPath,
    [
      join(root, 'bin/central.mjs'),
      '--data-dir',
      centralDir,
      'enrol-code',
      '--station',
      TEST_STATION,
    ],
    { encoding: 'utf8' },
  );
  const code = /: (\S+) \(valid/.exec(coded.stdout)?.[1];
  if (!code) throw new Error(`no enrolment code: ${coded.stderr}`);
  const key = createMemorySyncKey(TEST_STATION);
  await enrolStation(st.db, st.users.admin, {
    url,
    code,
    key,
    auditPublicKeyPem: auditPublicKeyPem(auditKeyOf(st.db)),
    supervisor: st.users.supervisor.username,
  });

  const certificate = randomBytes(760).toString('base64');
  const queue = (from: number, count: number) =>
    st.db.transaction(() => {
      for (let i = from; i < from + count; i++)
        enqueueOutbox(
          st.db,
          'issuance',
          {
            jobId: i,
            applicationId: i,
            documentNumber: `PE${String(i).padStart(7, '0')}`,
            bookletSerial: `PE${String(i).padStart(7, '0')}`,
            chipUid: randomBytes(7).toString('hex'),
            dataGroupHashes: {
              1: randomBytes(32).toString('hex'),
              2: randomBytes(32).toString('hex'),
            },
            sodSha256: randomBytes(32).toString('hex'),
            signerCertificate: certificate,
            operator: 'oper',
            stationId: TEST_STATION,
            issuedAt: new Date().toISOString(),
          },
          { idempotencyKey: `${TEST_STATION}/issuance/${i}` },
        );
    })();

  const measure = async (batch: number) => {
    const service = new SyncService({ db: st.db, key, batchSize: batch, intervalMs: 0 });
    global.gc?.();
    const base = process.memoryUsage();
    let peakRss = base.rss;
    let peakHeap = base.heapUsed;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 5);
    const t = performance.now();
    await service.runOnce();
    const elapsed = performance.now() - t;
    clearInterval(sampler);
    return { elapsed, peakRss, peakHeap, baseRss: base.rss };
  };

  // Warm up the connection and push the setup's audit entries.
  await new SyncService({ db: st.db, key, intervalMs: 0 }).runOnce();

  queue(1, RECORDS);
  const batched = await measure(BATCH);
  queue(RECORDS + 1, SINGLE);
  const single = await measure(1);
  const singleScaled = (single.elapsed / SINGLE) * RECORDS;
  const rows = await spawnSync(
    process.execPath,
    [join(root, 'bin/central.mjs'), '--data-dir', centralDir, 'stations'],
    { encoding: 'utf8' },
  );
  const acked = /"ackedSeq":\s*(\d+)/.exec(rows.stdout.replace(/\s+/g, ''))?.[1];

  console.log(`central office: PostgreSQL (${pg.url.replace(/\/\/[^@]*@/, '//')}), own process`);
  console.log(
    `pushed ${RECORDS} records in batches of ${BATCH}: ${(batched.elapsed / 1000).toFixed(2)} s (${Math.round(RECORDS / (batched.elapsed / 1000))} records/s)`,
  );
  console.log(
    `station peak memory during the push: RSS ${mb(batched.peakRss)} (from ${mb(batched.baseRss)} before), heap ${mb(batched.peakHeap)}`,
  );
  console.log(
    `one record per request: ${SINGLE} records in ${(single.elapsed / 1000).toFixed(2)} s (${(single.elapsed / SINGLE).toFixed(2)} ms each); ${RECORDS} would take ${(singleScaled / 1000).toFixed(1)} s`,
  );
  console.log(
    `batched is ${(singleScaled / batched.elapsed).toFixed(1)}x faster than one per request`,
  );
  console.log(`central office acknowledged up to seq ${acked ?? '?'} of ${RECORDS + SINGLE}`);
  const ok = batched.elapsed < 10_000 && singleScaled / batched.elapsed >= 10;
  console.log(ok ? 'target met (< 10 s, >= 10x)' : 'TARGET MISSED (< 10 s, >= 10x)');
} finally {
  central.kill('SIGTERM');
  await new Promise((r) => central.once('exit', r));
  st.close();
  await pg.stop();
  rmSync(centralDir, { recursive: true, force: true });
}
