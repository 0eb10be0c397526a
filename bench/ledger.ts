/**
 * Ledger benchmark: builds a station database of 1,000,000 booklets (by default) through the
 * real import and life-cycle code, then reports open-and-migrate time, one day's
 * reconciliation time (median of several runs) and the database size.
 *
 *   node bin/run-ts.mjs bench/ledger.ts [--booklets 1000000] [--per-day 5000] [--audit 500] [--keep]
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase, stationDbPath } from '../db/open.ts';
import { addChipProfile } from '../station/agencies.ts';
import { useAuditKey, writeAudit } from '../station/audit.ts';
import { initStation } from '../station/identity.ts';
import { createMemoryAuditKey } from '../station/keys/audit-key.ts';
import { transitionMany } from '../station/lifecycle.ts';
import { signManifest, type ManifestBody } from '../station/manifest.ts';
import { reconcileDay } from '../station/reconcile.ts';
import { allocateStock, importManifest, trustKey } from '../station/stock.ts';
import { createUser } from '../station/users.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const TOTAL = arg('booklets', 1_000_000);
const PER_DAY = arg('per-day', 5_000);
const KEEP = process.argv.includes('--keep');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const ms = (x: number): string => `${x.toFixed(1)} ms`;

const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-'));
const file = stationDbPath(dir);

let t = performance.now();
let db = openDatabase(file);
const createMs = performance.now() - t;
// A station signs its audit log with the audit key from key custody; the benchmark holds one
// in memory (the cost of signing is the same; a token adds its own latency, see docs).
const auditKey = createMemoryAuditKey(dir, 'LIM-AIR-01');
useAuditKey(db, auditKey);

const { admin } = initStation(db, {
  stationId: 'LIM-AIR-01',
  agencyCode: 'PER-MIGRACIONES',
  adminUsername: 'admin',
  adminSecret: 'bench-pin-1',
  timeZone: 'America/Lima',
});
const sup = createUser(db, admin, { username: 'sup', role: 'supervisor', secret: 'bench-pin-1' });
const op = createUser(db, admin, { username: 'op', role: 'operator', secret: 'bench-pin-1' });
addChipProfile(db, admin, {
  agencyCode: 'PER-MIGRACIONES',
  profileId: 'P1',
  chipOs: 'os',
  appletVersion: '1',
  keyVersion: 1,
});
const keys = generateKeyPairSync('ed25519');
trustKey(db, admin, keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'bench');

// Day d (Lima time, 09:00-17:00): batch d arrives and is allocated; batch d-1 is processed:
// 97% issued, 2% spoiled, 0.6% refused, 0.4% voided before use.
const DAY0 = Date.parse('2025-01-01T14:00:00Z');
const days = Math.ceil(TOTAL / PER_DAY);
const at = (d: number, hour: number): Date => new Date(DAY0 + d * 86_400_000 + hour * 3_600_000);
let batches: string[][] = [];
let built = 0;
t = performance.now();
for (let d = 0; d <= days; d++) {
  if (built < TOTAL) {
    const n = Math.min(PER_DAY, TOTAL - built);
    const body: ManifestBody = {
      batchId: `B${String(d).padStart(5, '0')}`,
      agency: 'PER-MIGRACIONES',
      chipProfile: 'P1',
      stockClass: 'production',
      manufacturer: 'Bench Works',
      createdAt: '2025-01-01T00:00:00Z',
      booklets: Array.from({ length: n }, (_, i) => {
        const k = String(built + i).padStart(8, '0');
        return { serial: `PE${k}`, chipSerial: `A0${k}`, chipUid: null };
      }),
    };
    importManifest(db, sup, JSON.stringify(signManifest(body, keys.privateKey)), at(d, 0));
    allocateStock(db, sup, {
      batchId: body.batchId,
      serials: body.booklets.map((b) => b.serial),
      at: at(d, 1),
    });
    batches.push(body.booklets.map((b) => b.serial));
    built += n;
  }
  if (d > 0 && batches.length > 0) {
    const serials = batches.shift()!;
    const voided = serials.filter((_, i) => i % 250 === 7);
    const used = serials.filter((_, i) => i % 250 !== 7);
    transitionMany(db, voided, { to: 'voided', actor: sup, reason: 'damaged cover', at: at(d, 2) });
    transitionMany(db, used, { to: 'in_process', actor: op, reason: 'job', at: at(d, 3) });
    const spoiled = used.filter((_, i) => i % 50 === 3);
    const refused = used.filter((_, i) => i % 160 === 5);
    const issued = used.filter((_, i) => i % 50 !== 3 && i % 160 !== 5);
    transitionMany(db, spoiled, { to: 'spoiled', actor: op, reason: 'print defect', at: at(d, 4) });
    transitionMany(db, refused, {
      to: 'refused',
      actor: op,
      reason: 'chip serial mismatch',
      at: at(d, 5),
    });
    transitionMany(db, issued, { to: 'issued', actor: op, reason: 'issued', at: at(d, 6) });
  }
  if (d % 20 === 0) process.stderr.write(`\rbuilding: day ${d}/${days}, ${built} booklets`);
}
batches = [];
const buildMs = performance.now() - t;
process.stderr.write('\n');
const events = db.prepare('SELECT count(*) FROM booklet_events').pluck().get() as number;
db.pragma('wal_checkpoint(TRUNCATE)');
db.close();

const size = (f: string): number => (existsSync(f) ? statSync(f).size : 0);
const dbBytes = size(file) + size(`${file}-wal`);

const opens: number[] = [];
for (let i = 0; i < 5; i++) {
  t = performance.now();
  db = openDatabase(file);
  opens.push(performance.now() - t);
  useAuditKey(db, auditKey);
  if (i < 4) db.close();
}

const probeDays = [Math.floor(days / 2), days - 1].map((d) => at(d, 0).toISOString().slice(0, 10));
const results = probeDays.map((date) => {
  reconcileDay(db, date); // warm the cache once
  const runs: number[] = [];
  let r = reconcileDay(db, date);
  for (let i = 0; i < 9; i++) {
    t = performance.now();
    r = reconcileDay(db, date);
    runs.push(performance.now() - t);
  }
  return { date, medianMs: median(runs), balanced: r.balanced, station: r.stations[0] };
});

// writeAudit throughput: each entry alone (its own transaction, then the anchor file written
// and fsynced), and many entries in one transaction (one anchor after the commit).
const AUDIT_N = arg('audit', 500);
t = performance.now();
for (let i = 0; i < AUDIT_N; i++)
  writeAudit(db, { actor: 'bench', action: 'bench.one', details: { i } });
const auditAlonePerS = AUDIT_N / ((performance.now() - t) / 1000);
t = performance.now();
db.transaction(() => {
  for (let i = 0; i < AUDIT_N; i++)
    writeAudit(db, { actor: 'bench', action: 'bench.batch', details: { i } });
})();
const auditBatchedPerS = AUDIT_N / ((performance.now() - t) / 1000);
await new Promise((r) => setImmediate(r)); // the anchor after the batch
db.close();

console.log(
  `ledger benchmark: ${built.toLocaleString('en')} booklets, ${events.toLocaleString('en')} events, ${days} days`,
);
console.log(`  build (import + life cycle):      ${(buildMs / 1000).toFixed(1)} s`);
console.log(`  create + migrate empty database:  ${ms(createMs)}`);
console.log(`  open + migrate check (full DB):   median ${ms(median(opens))} of ${opens.length}`);
for (const r of results)
  console.log(
    `  reconcile ${r.date}:            median ${ms(r.medianMs)} of 9 (balanced: ${r.balanced}; opening ${r.station?.opening}, issued ${r.station?.issued}, closing ${r.station?.closing})`,
  );
console.log(`  database size:                    ${(dbBytes / 1024 / 1024).toFixed(1)} MiB`);
console.log(
  `  writeAudit (signed, anchored):    ${auditAlonePerS.toFixed(0)} entries/s one per transaction, ${auditBatchedPerS.toFixed(0)} entries/s in one transaction (${AUDIT_N} each)`,
);
console.log(
  `  target: reconciliation < 50 ms -> ${results.every((r) => r.medianMs < 50) ? 'met' : 'NOT met'}`,
);
if (KEEP) console.log(`  kept: ${file}`);
else rmSync(dir, { recursive: true, force: true });
