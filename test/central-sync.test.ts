/**
 * The central office against both databases it runs on: a throwaway PostgreSQL cluster and the
 * embedded PGlite. Stations here are keys and signed requests built from the contract; audit
 * entries are made with node:crypto exactly as a station makes them (docs/sync.md).
 */
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SYNC_PROTOCOL,
  signRequest,
  verifyAllowance,
  type PushAuditEntry,
  type PushRecord,
  type PushRequest,
} from '../contracts/sync.ts';
import { startCentral, type RunningCentral } from '../central/start.ts';
import { startTestPostgres, type TestPostgres } from './helpers/postgres.ts';

interface Station {
  id: string;
  key: KeyObject;
  auditKey: KeyObject;
  auditPem: string;
  pem: string;
}

const pemOf = (k: KeyObject) =>
  createPublicKey(k).export({ type: 'spki', format: 'pem' }).toString();
const nonce = () => randomBytes(16).toString('base64url');
let counter = 0;
const newId = (p: string) => `${p}-${process.pid % 1000}-${++counter}`;

function newStation(id: string, alg: 'ec' | 'ed25519' = 'ec'): Station {
  const key =
    alg === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
      : generateKeyPairSync('ed25519').privateKey;
  const auditKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return {
    id,
    key,
    auditKey,
    pem: pemOf(key),
    auditPem: pemOf(auditKey),
  };
}

/** An audit entry as station/audit.ts writes one: hash over the JSON array of its fields,
 * ECDSA P-256 (IEEE P1363) over the labelled statement. */
function auditEntry(
  s: Station,
  seq: number,
  prevHash: string,
  action = 'booklet.issued',
  details: unknown = { n: seq },
): PushAuditEntry {
  const e = {
    seq,
    at: new Date(Date.UTC(2026, 2, 14, 10, 0, seq)).toISOString(),
    actor: 'operator',
    stationId: s.id,
    action,
    details: JSON.stringify(details),
    prevHash,
  };
  const hash = createHash('sha256')
    .update(
      JSON.stringify([e.seq, e.at, e.actor, e.stationId, e.action, e.details, e.prevHash]),
      'utf8',
    )
    .digest('hex');
  const signature = sign('sha256', Buffer.from(`perso-station/audit-entry@1\n${hash}`, 'utf8'), {
    key: s.auditKey,
    dsaEncoding: 'ieee-p1363',
  }).toString('base64');
  return { ...e, hash, signature };
}

function chain(s: Station, n: number): PushAuditEntry[] {
  const out: PushAuditEntry[] = [];
  let prev = '0'.repeat(64);
  for (let i = 1; i <= n; i++) {
    const e = auditEntry(s, i, prev);
    out.push(e);
    prev = e.hash;
  }
  return out;
}

function record(seq: number, kind = 'issuance', createdAt = new Date()): PushRecord {
  return {
    seq,
    kind,
    idempotencyKey: `${kind}:${seq}`,
    createdAt: createdAt.toISOString(),
    payload: { seq },
    auditHead: null,
  };
}

function pushBody(s: Station, over: Partial<PushRequest> = {}): PushRequest {
  return {
    protocol: SYNC_PROTOCOL,
    stationId: s.id,
    records: [],
    auditEntries: [],
    stock: { asOf: new Date().toISOString(), byState: [] },
    outbox: { waiting: 0, oldestWaitingAt: null },
    ...over,
  };
}

describe.each(['pglite', 'postgres'] as const)('central office on %s', (backend) => {
  let pg: TestPostgres | undefined;
  let central: RunningCentral;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'central-test-'));
    if (backend === 'postgres') pg = await startTestPostgres();
    central = await startCentral({ dataDir, databaseUrl: pg?.url });
    expect(central.backend).toBe(backend);
  });
  afterAll(async () => {
    await central?.close();
    await pg?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function send(
    s: Station,
    path: string,
    body: unknown,
    opts: { at?: Date; headers?: Record<string, string>; text?: string } = {},
  ) {
    const text = opts.text ?? JSON.stringify(body);
    const headers =
      opts.headers ??
      signRequest({
        privateKey: s.key,
        stationId: s.id,
        method: 'POST',
        path,
        body: text,
        nonce: nonce(),
        at: opts.at,
      });
    const res = await fetch(central.url + path, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: text,
    });
    return {
      status: res.status, // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read loosely
      json: (await res.json()) as Record<string, any>,
    };
  }

  async function enrol(s: Station, code?: string) {
    const c = code ?? (await central.adminApi.issueEnrolCode(s.id)).code;
    return send(s, '/v1/enrol', {
      protocol: SYNC_PROTOCOL,
      stationId: s.id,
      code: c,
      publicKey: s.pem,
      auditPublicKey: s.auditPem,
    });
  }

  async function enrolled(p = 'ST', alg: 'ec' | 'ed25519' = 'ec'): Promise<Station> {
    const s = newStation(newId(p), alg);
    const r = await enrol(s);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return s;
  }

  it('enrols a station with a one-time code and refuses the code a second time', async () => {
    const s = newStation(newId('EN'));
    const { code } = await central.adminApi.issueEnrolCode(s.id);
    const first = await enrol(s, code);
    expect(first.status).toBe(200);
    expect(first.json.centralPublicKey).toBe(central.centralPublicKeyPem);
    const again = await enrol(newStation(s.id), code);
    expect(again.status).toBe(403);
    expect(again.json.error.code).toBe('ENROL_CODE_INVALID');
    expect(JSON.stringify(again.json)).not.toContain(code);
    // A code issued for one station does not enrol another.
    const other = newStation(newId('EN'));
    const { code: forA } = await central.adminApi.issueEnrolCode(newId('EN'));
    expect((await enrol(other, forA)).json.error.code).toBe('ENROL_CODE_INVALID');
    // An Ed25519 station key is accepted too.
    await enrolled('ED', 'ed25519');
  });

  it('refuses a request from an unknown station', async () => {
    const r = await send(newStation(newId('UN')), '/v1/push', {});
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe('UNKNOWN_STATION');
  });

  it('refuses a request from a revoked station', async () => {
    const s = await enrolled('RV');
    expect((await send(s, '/v1/push', pushBody(s))).status).toBe(200);
    await central.adminApi.revokeStation(s.id);
    const r = await send(s, '/v1/push', pushBody(s));
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('REVOKED_STATION');
  });

  it('refuses a replayed request', async () => {
    const s = await enrolled('RP');
    const body = JSON.stringify(pushBody(s, { records: [record(1)] }));
    const headers = signRequest({
      privateKey: s.key,
      stationId: s.id,
      method: 'POST',
      path: '/v1/push',
      body,
      nonce: nonce(),
    });
    expect((await send(s, '/v1/push', null, { text: body, headers })).status).toBe(200);
    const again = await send(s, '/v1/push', null, { text: body, headers });
    expect(again.status).toBe(401);
    expect(again.json.error.code).toBe('REPLAYED_REQUEST');
  });

  it('refuses a stale request, a bad digest and a bad signature', async () => {
    const s = await enrolled('SL');
    const stale = await send(s, '/v1/push', pushBody(s), {
      at: new Date(Date.now() - 10 * 60_000),
    });
    expect(stale.status).toBe(401);
    expect(stale.json.error.code).toBe('STALE_REQUEST');
    const body = JSON.stringify(pushBody(s));
    const headers = signRequest({
      privateKey: s.key,
      stationId: s.id,
      method: 'POST',
      path: '/v1/push',
      body,
      nonce: nonce(),
    });
    const tampered = body.replace('"waiting":0', '"waiting":7');
    expect((await send(s, '/v1/push', null, { text: tampered, headers })).json.error.code).toBe(
      'BAD_DIGEST',
    );
    const forger = newStation(s.id);
    expect((await send(forger, '/v1/push', pushBody(s))).json.error.code).toBe('BAD_SIGNATURE');
  });

  it('refuses a body with a duplicate key or an unknown field, naming it', async () => {
    const s = await enrolled('DK');
    const dup = await send(s, '/v1/push', null, {
      text: JSON.stringify(pushBody(s)).replace('{', `{"stationId":"${s.id}",`),
    });
    expect(dup.status).toBe(400);
    expect(dup.json.error.code).toBe('INVALID_BODY');
    expect(dup.json.error.message).toMatch(/duplicate key "stationId"/);
    const extra = await send(s, '/v1/push', { ...pushBody(s), extra: 1 });
    expect(extra.json.error.code).toBe('INVALID_BODY');
  });

  it('ingests idempotently: a retried, overlapping or concurrent batch stores nothing twice', async () => {
    const s = await enrolled('ID');
    const b1 = pushBody(s, { records: [1, 2, 3, 4, 5].map((n) => record(n)) });
    const r1 = await send(s, '/v1/push', b1);
    expect(r1.json).toMatchObject({ ackedSeq: 5, stored: 5, duplicates: 0 });
    const r2 = await send(s, '/v1/push', b1);
    expect(r2.json).toMatchObject({ ackedSeq: 5, stored: 0, duplicates: 5 });
    const r3 = await send(
      s,
      '/v1/push',
      pushBody(s, { records: [4, 5, 6, 7, 8].map((n) => record(n)) }),
    );
    expect(r3.json).toMatchObject({ ackedSeq: 8, stored: 3, duplicates: 2 });
    // A batch from the future (an earlier one lost or reordered): refused with where to resume.
    const gap = await send(s, '/v1/push', pushBody(s, { records: [record(12)] }));
    expect(gap.status).toBe(409);
    expect(gap.json.error).toMatchObject({ code: 'SEQ_GAP', expectedSeq: 9 });
    // A stored seq with another record is a conflict, and nothing of that batch is stored.
    const clash = await send(
      s,
      '/v1/push',
      pushBody(s, { records: [{ ...record(8), idempotencyKey: 'other' }, record(9)] }),
    );
    expect(clash.json.error.code).toBe('SEQ_CONFLICT');
    // Two deliveries of one batch at once (a duplicating proxy).
    const b9 = pushBody(s, { records: [9, 10, 11].map((n) => record(n)) });
    const both = await Promise.all([send(s, '/v1/push', b9), send(s, '/v1/push', b9)]);
    expect(both.map((b) => b.json.ackedSeq)).toEqual([11, 11]);
    expect(both.map((b) => b.json.stored).sort()).toEqual([0, 3]);
    const rows = await central.adminApi.pool.query(
      'SELECT seq FROM records WHERE station_id = $1 ORDER BY seq',
      [s.id],
    );
    expect(rows.rows.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  async function flagsAfter(make: (s: Station) => PushAuditEntry[]) {
    const s = await enrolled('AU');
    const r = await send(s, '/v1/push', pushBody(s, { auditEntries: make(s) }));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return central.adminApi.auditFlags(s.id);
  }

  it('accepts an intact audit chain without a flag', async () => {
    expect(await flagsAfter((s) => chain(s, 6))).toEqual([]);
  });

  it('flags an edited audit entry', async () => {
    const flags = await flagsAfter((s) => {
      const c = chain(s, 6);
      c[2] = { ...c[2]!, details: JSON.stringify({ n: 999 }) };
      return c;
    });
    expect(flags.map((f) => [f.kind, f.seq])).toEqual([['edited', 3]]);
  });

  it('flags a removed audit entry', async () => {
    const flags = await flagsAfter((s) => chain(s, 6).filter((e) => e.seq !== 4));
    expect(flags.map((f) => [f.kind, f.seq, f.toSeq])).toEqual([['removed', 4, 4]]);
  });

  it('flags reordered audit entries', async () => {
    const flags = await flagsAfter((s) => {
      const c = chain(s, 6);
      // Entries 3 and 4 swapped in place, keeping their positions' seq numbers.
      const [e3, e4] = [c[2]!, c[3]!];
      c[2] = { ...e4, seq: 3 };
      c[3] = { ...e3, seq: 4 };
      return c;
    });
    expect(flags.some((f) => f.kind === 'reordered' && f.seq === 3)).toBe(true);
    expect(flags.every((f) => f.seq! >= 3 && f.seq! <= 5)).toBe(true);
  });

  it('flags an entry rewritten after delivery and an entry signed by another key', async () => {
    const s = await enrolled('AW');
    const c = chain(s, 3);
    await send(s, '/v1/push', pushBody(s, { auditEntries: c }));
    const thief = { ...s, auditKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey };
    const rewritten = auditEntry(thief, 3, c[1]!.hash, 'booklet.spoiled');
    const next = auditEntry(thief, 4, rewritten.hash);
    const r = await send(s, '/v1/push', pushBody(s, { auditEntries: [rewritten, next] }));
    expect(r.json.auditAckedSeq).toBe(4);
    const flags = await central.adminApi.auditFlags(s.id);
    expect(flags.map((f) => [f.kind, f.seq])).toEqual([
      ['edited', 3],
      ['edited', 4],
      ['forged', 4],
    ]);
  });

  it('flags a station that will run out of stock within the threshold, with its days left', async () => {
    await central.adminApi.updateSettings({ stockThresholdDays: 21, rateWindowDays: 14 });
    const day = 86400_000;
    // Both stations issued 70 booklets over the last 7 days: 10 a day.
    const issued = () =>
      Array.from({ length: 70 }, (_, i) =>
        record(i + 1, 'issuance', new Date(Date.now() - 7 * day + 1000 + (i * 7 * day) / 70)),
      );
    const short = await enrolled('SHORT');
    const plenty = await enrolled('PLENTY');
    const stock = (n: number) => ({
      asOf: new Date().toISOString(),
      byState: [
        { state: 'allocated' as const, stockClass: 'production' as const, count: n - 20 },
        { state: 'received' as const, stockClass: 'production' as const, count: 20 },
        { state: 'received' as const, stockClass: 'test' as const, count: 500 },
      ],
    });
    await send(short, '/v1/push', pushBody(short, { records: issued(), stock: stock(100) }));
    await send(plenty, '/v1/push', pushBody(plenty, { records: issued(), stock: stock(1000) }));
    const report = await central.adminApi.stockReport();
    const a = report.stations.find((x) => x.stationId === short.id)!;
    const b = report.stations.find((x) => x.stationId === plenty.id)!;
    expect(a).toMatchObject({ onHand: 100, flagged: true });
    expect(a.ratePerDay).toBeCloseTo(10, 1);
    expect(a.daysLeft).toBeCloseTo(10, 0);
    expect(b).toMatchObject({ onHand: 1000, flagged: false });
    expect(b.daysLeft).toBeCloseTo(100, -1);
    expect(report.agency.onHand).toBeGreaterThanOrEqual(1100);
  });

  it('answers issued, spoiled and refused per station and day, silent stations and records waiting', async () => {
    const s = await enrolled('Q');
    const d1 = new Date('2026-03-14T09:00:00.000Z');
    const d2 = new Date('2026-03-15T09:00:00.000Z');
    const recs = [
      record(1, 'issuance', d1),
      record(2, 'issuance', d1),
      record(3, 'spoilage', d1),
      record(4, 'intake.refusal', d2),
      record(5, 'issuance', d2),
      record(6, 'stock.received', d2),
    ];
    await send(
      s,
      '/v1/push',
      pushBody(s, { records: recs, outbox: { waiting: 4, oldestWaitingAt: d2.toISOString() } }),
    );
    const days = (await central.adminApi.dailyCounts()).filter((d) => d.stationId === s.id);
    expect(days).toEqual([
      { stationId: s.id, day: '2026-03-14', issued: 2, spoiled: 1, refused: 0 },
      { stationId: s.id, day: '2026-03-15', issued: 1, spoiled: 0, refused: 1 },
    ]);
    const waiting = (await central.adminApi.recordsWaiting()).find((w) => w.stationId === s.id);
    expect(waiting).toMatchObject({ waitingAtStation: 4, oldestWaitingAt: d2.toISOString() });
    const never = newStation(newId('SILENT'));
    await enrol(never);
    const silent = (await central.adminApi.silentStations(1)).map((x) => x.stationId);
    expect(silent).not.toContain(s.id);
    const later = (
      await central.adminApi.silentStations(1, new Date(Date.now() + 2 * 3600_000))
    ).map((x) => x.stationId);
    expect(later).toContain(s.id);
  });

  it('serves pulls with a cursor: applications with images, the lost/stolen list, the signed allowance', async () => {
    const s = await enrolled('PL');
    const other = await enrolled('PL');
    const image = Buffer.from('jpeg-bytes').toString('base64');
    await central.adminApi.submitApplication(s.id, {
      applicationId: 'APP-1',
      application: { surname: 'NUNEZ', faceImage: 'face.jpg' },
      images: [{ name: 'face.jpg', mediaType: 'image/jpeg', base64: image }],
    });
    await central.adminApi.submitApplication(other.id, {
      applicationId: 'APP-2',
      application: { surname: 'OTHER' },
      images: [],
    });
    await central.adminApi.reportLostStolen('AB123456', 'stolen');
    const p1 = await send(s, '/v1/pull', {
      protocol: SYNC_PROTOCOL,
      stationId: s.id,
      cursor: 0,
      limit: 1,
    });
    expect(p1.status, JSON.stringify(p1.json)).toBe(200);
    expect(p1.json.more).toBe(true);
    const p2 = await send(s, '/v1/pull', {
      protocol: SYNC_PROTOCOL,
      stationId: s.id,
      cursor: p1.json.cursor,
    });
    const items = [...p1.json.items, ...p2.json.items].filter(
      (i) => i.kind === 'application' || i.serial === 'AB123456',
    );
    expect(items.map((i) => i.applicationId ?? i.serial)).toEqual(['APP-1', 'AB123456']);
    expect(items[0].images[0].base64).toBe(image);
    expect(p2.json.more).toBe(false);
    expect(verifyAllowance(p2.json.allowance, central.centralPublicKeyPem, s.id)).toBe(true);
    const forgedAllowance = {
      ...p2.json.allowance,
      allowance: { ...p2.json.allowance.allowance, maxOfflineIssuances: 1_000_000 },
    };
    expect(verifyAllowance(forgedAllowance, central.centralPublicKeyPem, s.id)).toBe(false);
    expect(verifyAllowance(p2.json.allowance, central.centralPublicKeyPem, other.id)).toBe(false);
  });
});
