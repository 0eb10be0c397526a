/**
 * Building blocks for the sync tests: a real central office (central/start.ts) on PGlite or on
 * a throwaway PostgreSQL cluster, and a test station enrolled with it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCentral, type RunningCentral } from '../central/start.ts';
import { auditKeyOf } from '../station/audit.ts';
import { auditPublicKeyPem } from '../station/keys/audit-key.ts';
import {
  createDevDataKeyFile,
  openDevDataKeyFile,
  type ApplicationDataKey,
} from '../station/keys/data-key.ts';
import { enqueueOutbox } from '../station/outbox.ts';
import {
  createMemorySyncKey,
  enrolStation,
  SyncService,
  type FetchLike,
  type SyncKey,
  type SyncServiceOptions,
} from '../station/sync/index.ts';
import { createTestStation, TEST_STATION, type TestStation } from '../station/testing.ts';
import { httpFetch } from './helpers/fault-proxy.ts';

export const FIXTURES = join(import.meta.dirname, 'fixtures/mrtd');

export interface CentralUnderTest {
  central: RunningCentral;
  dataDir: string;
  /** Starts it again on the same data and database (a restart), same port if possible. */
  restart(): Promise<RunningCentral>;
  close(): Promise<void>;
}

export async function startTestCentral(
  opts: { databaseUrl?: string; now?: () => Date; port?: number } = {},
): Promise<CentralUnderTest> {
  const dataDir = mkdtempSync(join(tmpdir(), 'central-test-'));
  const start = (port?: number) =>
    startCentral({
      dataDir,
      ...(port ? { port } : {}),
      ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
  const c: CentralUnderTest = {
    central: await start(opts.port),
    dataDir,
    async restart() {
      const port = Number(new URL(c.central.url).port);
      await c.central.close();
      c.central = await start(port);
      return c.central;
    },
    async close() {
      await c.central.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return c;
}

export interface SyncStation {
  st: TestStation;
  key: SyncKey;
  dataKey: ApplicationDataKey;
  service(o?: Partial<SyncServiceOptions>): SyncService;
  /** Queues an issuance-like record, as the personalization job does. */
  issue(n: number, at?: Date): void;
  close(): Promise<void>;
}

/** A test station enrolled with `central` through `url` (the proxy, or the central itself). */
export async function enrolledStation(
  central: RunningCentral,
  url: string,
  opts: { fetch?: FetchLike; now?: () => Date; key?: (dataDir: string) => SyncKey } = {},
): Promise<SyncStation> {
  const st = createTestStation();
  const dataKeyFile = join(st.dataDir, 'test-data-key.json');
  await createDevDataKeyFile(dataKeyFile, 'sync test passphrase', { scryptN: 1 << 14 });
  const dataKey = await openDevDataKeyFile(dataKeyFile, 'sync test passphrase');
  const key = opts.key ? opts.key(st.dataDir) : createMemorySyncKey(TEST_STATION);
  const { code } = await central.adminApi.issueEnrolCode(TEST_STATION, opts.now?.());
  await enrolStation(st.db, st.users.admin, {
    url,
    code,
    key,
    auditPublicKeyPem: auditPublicKeyPem(auditKeyOf(st.db)),
    supervisor: st.users.supervisor.username,
    fetch: opts.fetch ?? httpFetch,
    ...(opts.now ? { now: opts.now } : {}),
  });
  return {
    st,
    key,
    dataKey,
    service: (o = {}) =>
      new SyncService({
        db: st.db,
        key,
        dataKey,
        fetch: opts.fetch ?? httpFetch,
        ...(opts.now ? { now: opts.now } : {}),
        intervalMs: 0,
        baseDelayMs: 1,
        maxDelayMs: 20,
        timeoutMs: 5000,
        ...o,
      }),
    issue(n, at) {
      enqueueOutbox(
        st.db,
        'issuance',
        {
          jobId: n,
          applicationId: n,
          documentNumber: `PE${String(n).padStart(7, '0')}`,
          bookletSerial: `PE${String(n).padStart(7, '0')}`,
          issuedAt: (at ?? new Date()).toISOString(),
        },
        { idempotencyKey: `${TEST_STATION}/issuance/${n}`, ...(at ? { at } : {}) },
      );
    },
    async close() {
      await dataKey.close();
      st.close();
    },
  };
}

/** The records the central office holds for the station, in seq order. */
export async function centralRecords(
  central: RunningCentral,
  stationId = TEST_STATION,
): Promise<{ seq: number; kind: string; idempotency_key: string }[]> {
  const r = await central.adminApi.pool.query<{
    seq: string;
    kind: string;
    idempotency_key: string;
  }>('SELECT seq, kind, idempotency_key FROM records WHERE station_id = $1 ORDER BY seq', [
    stationId,
  ]);
  return r.rows.map((x) => ({
    seq: Number(x.seq),
    kind: x.kind,
    idempotency_key: x.idempotency_key,
  }));
}

/** The outbox as the station holds it, in the same shape. */
export function stationRecords(
  st: TestStation,
): { seq: number; kind: string; idempotency_key: string }[] {
  return st.db.prepare('SELECT id AS seq, kind, idempotency_key FROM outbox ORDER BY id').all() as {
    seq: number;
    kind: string;
    idempotency_key: string;
  }[];
}

export function faceBase64(): string {
  return readFileSync(join(FIXTURES, 'face.jpg')).toString('base64');
}

/** The fixture application as the central office sends it (no documentNumber). */
export function pulledApplication(over: Record<string, unknown> = {}): Record<string, unknown> {
  const {
    documentNumber: _n,
    signatureImage: _s,
    ...base
  } = JSON.parse(readFileSync(join(FIXTURES, 'application.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  return { ...base, faceImage: 'face.jpg', ...over };
}
