/**
 * Shared setup of the intake tests (test/intake-*.test.ts): a station seeded for a simulator
 * scenario through the real seed path, and the station end of the serial link to a simulator.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../db/open.ts';
import { EncoderClient } from '../drivers/encoder.ts';
import type { Link } from '../drivers/link.ts';
import { openSerialLink } from '../drivers/open.ts';
import { PrinterClient } from '../drivers/printer.ts';
import { seedStation } from '../station/dev-seed.ts';
import { openStationDb } from '../station/identity.ts';
import { acquireStationLock, type StationLock } from '../station/station-lock.ts';
import { authenticate, type Actor } from '../station/users.ts';
import { loadScenario } from '../simulator/index.ts';
import { DEV_PIN, seedForHopper } from '../simulator/seed.ts';

export const DEV_ENV = {
  STATION_MODE: 'development',
  STATION_DEV_KEYS_PASSPHRASE: 'development passphrase for intake tests',
};

export interface SeededStation {
  dataDir: string;
  db: Db;
  /** This process's lock on the data directory (intake needs it). */
  lock: StationLock;
  /**
   * Gives the lock up and takes it again under a new session, as a restarted station process
   * would: the jobs of the old session are then a dead process's, for recovery to settle.
   */
  restart(): StationLock;
  actor(username: string): Actor;
  cleanup(): void;
}

/** Seeds a fresh data directory for a scenario (development key file, signed manifests...). */
export async function seedScenarioStation(scenarioName: string): Promise<SeededStation> {
  const dataDir = mkdtempSync(join(tmpdir(), `intake-${scenarioName}-`));
  const scenario = await loadScenario(scenarioName);
  const spec = scenario.seed ? scenario.seed() : seedForHopper(scenario.hopper());
  await seedStation(dataDir, spec, { ...process.env, ...DEV_ENV });
  const take = (): StationLock => acquireStationLock(dataDir, { command: 'intake test' });
  let lock = take();
  const db = openStationDb(dataDir);
  return {
    dataDir,
    db,
    get lock() {
      return lock;
    },
    restart: () => {
      lock.release();
      lock = take();
      return lock;
    },
    actor: (username) => authenticate(db, username, DEV_PIN),
    cleanup: () => {
      if (db.open) db.close();
      lock.release();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface StationLink {
  link: Link;
  printer: PrinterClient;
  encoder: EncoderClient;
  close(): Promise<void>;
}

/** Opens the station end of the simulator's virtual serial port. */
export async function connectStation(path: string): Promise<StationLink> {
  const link = await openSerialLink(path);
  return {
    link,
    printer: new PrinterClient(link),
    encoder: new EncoderClient(link),
    close: () => link.close().catch(() => undefined),
  };
}
