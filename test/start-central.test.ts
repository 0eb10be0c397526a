/**
 * The one-command demo: a development station started with a local central office
 * (`--with-central`, station/sync/local-central.ts, cli/local-central.ts). Real station core on
 * the simulator (socat pair), real central office on PGlite in the data directory, real sync.
 * The first start enrols the station through its admin API's code and records arrive there
 * without a button; a later start reuses the enrolment; another office, and production mode,
 * are refused; the console prints the office's URL and token file (never the token) and stops
 * the office on Ctrl-C.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall } from '../central/admin-client.ts';
import { ADMIN_TOKEN_FILE } from '../central/secrets.ts';
import { URL_FILE } from '../central/start.ts';
import { startBrowserMode } from '../cli/browser-mode.ts';
import { developmentDevices } from '../cli/development-devices.ts';
import { localCentralDir, localCentralOffice } from '../cli/local-central.ts';
import { DEV_PIN, SEED_STATION } from '../simulator/seed.ts';
import { listAudit } from '../station/audit.ts';
import { enterDevelopmentMode, openStation, StartRefusedError } from '../station/core/open.ts';
import type { StationCore } from '../station/core/station-core.ts';
import { acquireStationLock } from '../station/station-lock.ts';
import { openStationDb } from '../station/identity.ts';
import { forgetSyncKeys, readSyncConfig } from '../station/sync/index.ts';
import { writeSyncConfig } from '../station/sync/state.ts';
import { LOCAL_CENTRAL_VIA } from '../station/sync/local-central.ts';
import { stationProcess } from './helpers/station-process.ts';

let tmp: string;
const saved = { ...process.env };
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'start-central-'));
});
afterAll(() => {
  forgetSyncKeys();
  for (const k of ['STATION_MODE', 'STATION_DEV_KEYS_PASSPHRASE'] as const)
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  rmSync(tmp, { recursive: true, force: true });
});

/** Opens the development station core of `dataDir` with the local office of `centralDir`. */
async function openWithCentral(dataDir: string, centralDir: string) {
  const notes: string[] = [];
  const lock = acquireStationLock(dataDir, { command: 'test' });
  let core: StationCore;
  try {
    core = await openStation({
      dataDir,
      lock,
      development: developmentDevices,
      localCentral: localCentralOffice(centralDir),
      lang: 'en',
      note: (l) => notes.push(l),
    });
  } catch (e) {
    lock.release();
    throw e;
  }
  return {
    core,
    notes,
    close: async () => {
      await core.close();
      lock.release();
    },
  };
}

/** The office's admin API, as its admin calls it: URL and token from its data directory. */
async function admin(centralDir: string, path: string) {
  const url = readFileSync(join(centralDir, URL_FILE), 'utf8').trim();
  const token = readFileSync(join(centralDir, ADMIN_TOKEN_FILE), 'utf8').trim();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read loosely
  return (await adminCall(url, token, 'GET', path)) as Record<string, any>;
}

const refusedAt = async (centralDir: string): Promise<number> =>
  (
    (await admin(centralDir, '/admin/reports/daily')).days as {
      stationId: string;
      refused: number;
    }[]
  )
    .filter((d) => d.stationId === SEED_STATION)
    .reduce((n, d) => n + d.refused, 0);

describe('a development start with a local central office', () => {
  let dataDir: string;
  let centralDir: string;
  let url: string;
  beforeAll(() => {
    enterDevelopmentMode(true);
    dataDir = join(tmp, 'station');
    centralDir = localCentralDir(true, dataDir);
  });

  it('starts the office, enrols the station with a code from its admin API, and delivers an intake refusal without a button', async () => {
    expect(centralDir).toBe(join(dataDir, 'dev-central'));
    const s = await openWithCentral(dataDir, centralDir);
    try {
      const config = readSyncConfig(s.core.db);
      url = config!.centralUrl;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const token = readFileSync(join(centralDir, ADMIN_TOKEN_FILE), 'utf8').trim();
      expect(s.notes).toContain(
        `local central office (development, pglite) at ${url}: data in ${centralDir}, its admin token in ${join(centralDir, ADMIN_TOKEN_FILE)} (e.g. npx central --data-dir ${centralDir} report daily)`,
      );
      expect(s.notes.join('\n')).toMatch(
        /^enrolled station LIM-AIR-01 with it as admin \(development PIN\), on behalf of supervisor; sync key [0-9a-f]{16}, central office key [0-9a-f]{16}$/m,
      );
      expect(s.notes.join('\n')).not.toContain(token);
      // The same use case as station sync enrol: audited by the development admin, never the code.
      const enrolled = listAudit(s.core.db).filter((e) => e.action === 'sync.enrolled');
      expect(enrolled).toHaveLength(1);
      expect(enrolled[0]!.actor).toBe('admin');
      expect(enrolled[0]!.details).toMatchObject({
        centralUrl: url,
        supervisor: 'supervisor',
        keyKind: 'dev-file',
        via: LOCAL_CENTRAL_VIA,
      });
      // The office knows the station; the loop runs by itself.
      const stations = (await admin(centralDir, '/admin/stations')).stations as {
        stationId: string;
        revokedAt: string | null;
      }[];
      expect(stations).toMatchObject([{ stationId: SEED_STATION, revokedAt: null }]);

      s.core.signIn('operator', DEV_PIN);
      const run = await s.core.intake(3);
      expect(run.refused).toBe(1);
      await expect.poll(() => refusedAt(centralDir), { timeout: 20_000, interval: 200 }).toBe(1);
      await expect
        .poll(() => s.core.syncDetail(), { timeout: 20_000, interval: 200 })
        .toMatchObject({ connection: 'online', waiting: 0 });
    } finally {
      await s.close();
    }
    // Closing the station stops the office.
    expect(existsSync(join(centralDir, URL_FILE))).toBe(false);
    await expect(fetch(`${url}/admin/stations`)).rejects.toThrow();
  }, 90_000);

  it('starts the same office again on a later start and reuses the enrolment', async () => {
    const s = await openWithCentral(dataDir, centralDir);
    try {
      expect(readSyncConfig(s.core.db)?.centralUrl).toBe(url);
      expect(s.notes).toContain(
        `local central office (development, pglite) at ${url}: data in ${centralDir}, its admin token in ${join(centralDir, ADMIN_TOKEN_FILE)} (e.g. npx central --data-dir ${centralDir} report daily)`,
      );
      expect(s.notes.join('\n')).toMatch(
        /^station LIM-AIR-01 is enrolled with it since \S+: the enrolment is reused$/m,
      );
      expect(listAudit(s.core.db).filter((e) => e.action === 'sync.enrolled')).toHaveLength(1);
      // What it received before is still there, and the station talks to it again.
      expect(await refusedAt(centralDir)).toBe(1);
      s.core.signIn('operator', DEV_PIN);
      await expect
        .poll(() => s.core.syncDetail().connection, { timeout: 20_000, interval: 200 })
        .toBe('online');
    } finally {
      await s.close();
    }
  }, 90_000);

  it('browser mode (npm start -- --with-central) opens the same office through the same core path', async () => {
    const lock = acquireStationLock(dataDir, { command: 'test' });
    try {
      const mode = await startBrowserMode({
        dataDir,
        lock,
        renderer: 'none',
        localCentral: localCentralOffice(centralDir),
        lang: 'en',
      });
      try {
        expect(readFileSync(join(centralDir, URL_FILE), 'utf8').trim()).toBe(url);
        mode.core.signIn('operator', DEV_PIN);
        await expect
          .poll(() => mode.core.syncStatus().state, { timeout: 20_000, interval: 200 })
          .toBe('online');
      } finally {
        await mode.close();
      }
    } finally {
      lock.release();
    }
    expect(existsSync(join(centralDir, URL_FILE))).toBe(false);
  }, 90_000);

  it('refuses a local office other than the one the station is enrolled with, starting none', async () => {
    const other = join(tmp, 'other-central');
    const e = await openWithCentral(dataDir, other).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StartRefusedError);
    expect((e as Error).message).toMatch(
      new RegExp(
        `^station LIM-AIR-01 is enrolled with the central office at ${url.replaceAll('.', '\\.')} \\(key [0-9a-f]{16}\\), not with the local one in ${other} \\(never started\\): start without --with-central`,
      ),
    );
    expect(existsSync(other)).toBe(false);
  }, 60_000);

  it('refuses the right office key at an address the local office cannot take', async () => {
    const db = openStationDb(dataDir);
    const config = readSyncConfig(db)!;
    writeSyncConfig(db, { ...config, centralUrl: 'http://127.0.0.2:8640' });
    db.close();
    try {
      const e = await openWithCentral(dataDir, centralDir).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StartRefusedError);
      expect((e as Error).message).toBe(
        `station LIM-AIR-01 is enrolled with the office of ${centralDir} at http://127.0.0.2:8640, an address the local office cannot take (it listens on http://127.0.0.1:<port>): start without --with-central`,
      );
    } finally {
      const db2 = openStationDb(dataDir);
      writeSyncConfig(db2, config);
      db2.close();
    }
  }, 60_000);

  it('is refused outside development mode before anything opens', async () => {
    const before = process.env.STATION_MODE;
    delete process.env.STATION_MODE;
    try {
      const dir = join(tmp, 'production');
      const e = await openWithCentral(dir, join(dir, 'dev-central')).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StartRefusedError);
      expect((e as Error).message).toMatch(/^--with-central .*development mode only/);
      expect(existsSync(join(dir, 'dev-central'))).toBe(false);
      expect(existsSync(join(dir, 'station.sqlite'))).toBe(false);
    } finally {
      process.env.STATION_MODE = before;
    }
  }, 30_000);
});

describe('station start --with-central (the console)', () => {
  it('is refused in production mode with a clear message, creating nothing', async () => {
    const dataDir = join(tmp, 'cli-production');
    const p = stationProcess(['--data-dir', dataDir, 'start', '--with-central'], {
      env: { STATION_PIN: DEV_PIN, STATION_MODE: undefined },
      stdin: '',
    });
    expect(await p.exited).toBe(1);
    expect(p.stderr).toBe(
      'station: --with-central starts a central office on this machine for the demo and enrols the development station with it, ' +
        'so it is for development mode only: station start --dev --with-central (or npm start -- --with-central); ' +
        'a production station is enrolled by its admin with station sync enrol\n',
    );
    expect(existsSync(dataDir)).toBe(false);
  }, 30_000);

  it('prints the office URL and where its admin token is, never the token, and Ctrl-C stops the office', async () => {
    const dataDir = join(tmp, 'cli');
    const centralDir = join(tmp, 'cli-central');
    const p = stationProcess(
      ['--data-dir', dataDir, 'start', '--dev', '--lang', 'en', '--with-central', centralDir],
      { env: { STATION_PIN: DEV_PIN, STATION_MODE: undefined }, killAfterMs: 60_000 },
    );
    await p.waitFor(/type "help" for the commands/);
    const url = readFileSync(join(centralDir, URL_FILE), 'utf8').trim();
    const token = readFileSync(join(centralDir, ADMIN_TOKEN_FILE), 'utf8').trim();
    expect(p.stdout).toContain(
      `local central office (development, pglite) at ${url}: data in ${centralDir}, its admin token in ${join(centralDir, ADMIN_TOKEN_FILE)}`,
    );
    expect(p.stdout).toMatch(/^enrolled station LIM-AIR-01 with it as admin/m);
    await p.waitFor(/^sync: online \(http:\/\/127\.0\.0\.1:\d+\)/m);
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
    expect(p.stdout + p.stderr).not.toContain(token);
    expect(p.stderr).toBe('');
    expect(existsSync(join(centralDir, URL_FILE))).toBe(false);
    await expect(fetch(`${url}/admin/stations`)).rejects.toThrow();
  }, 90_000);
});
