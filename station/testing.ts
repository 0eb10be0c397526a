/**
 * Building blocks for tests (here and in later issues): a station database in a temporary
 * data directory with one user per role, an accepted chip profile and a trusted manifest key.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../db/open.ts';
import { addChipProfile } from './agencies.ts';
import { flushAuditAnchor } from './audit.ts';
import { initStation, openStationDb } from './identity.ts';
import { createMemoryAuditKey, rememberAuditKey, type AuditKey } from './keys/audit-key.ts';
import { signManifest, type ManifestBody } from './manifest.ts';
import { importManifest, trustKey } from './stock.ts';
import { createUser, type Actor, type Role } from './users.ts';

export const TEST_AGENCY = 'PER-MIGRACIONES';
export const TEST_PROFILE = 'PER-MIG-EMRTD-V3';
export const TEST_STATION = 'LIM-AIR-01';
export const TEST_SECRET = 'test-pin-2468';

export interface TestStation {
  dataDir: string;
  db: Db;
  users: Record<Role, Actor>;
  /** The private key of the trusted manifest signer (PEM). */
  signerKeyPem: string;
  signerKey: KeyObject;
  /** Makes a signed manifest of `count` booklets with serials prefix + zero-padded numbers. */
  manifest(opts: {
    batchId: string;
    count: number;
    start?: number;
    prefix?: string;
    stockClass?: 'production' | 'test';
    agency?: string;
    chipProfile?: string;
  }): { body: ManifestBody; text: string };
  /** Imports a fresh batch as the supervisor and returns its serials. */
  receive(
    batchId: string,
    count: number,
    opts?: { start?: number; prefix?: string; stockClass?: 'production' | 'test'; at?: Date },
  ): string[];
  close(): void;
}

export function createTestStation(
  opts: { timeZone?: string; signer?: 'Ed25519' | 'ECDSA' } = {},
): TestStation {
  const dataDir = mkdtempSync(join(tmpdir(), 'station-test-'));
  useTestAuditKey(dataDir, TEST_STATION);
  const db = openStationDb(dataDir);
  const { admin } = initStation(db, {
    stationId: TEST_STATION,
    agencyCode: TEST_AGENCY,
    agencyName: 'Superintendencia Nacional de Migraciones',
    adminUsername: 'admin',
    adminSecret: TEST_SECRET,
    timeZone: opts.timeZone ?? 'America/Lima',
  });
  const users: Record<Role, Actor> = {
    admin,
    supervisor: createUser(db, admin, {
      username: 'super',
      role: 'supervisor',
      secret: TEST_SECRET,
    }),
    operator: createUser(db, admin, { username: 'oper', role: 'operator', secret: TEST_SECRET }),
    technician: createUser(db, admin, {
      username: 'tech',
      role: 'technician',
      secret: TEST_SECRET,
    }),
  };
  addChipProfile(db, admin, {
    agencyCode: TEST_AGENCY,
    profileId: TEST_PROFILE,
    chipOs: 'ePassOS 4.2',
    appletVersion: '3.1.0',
    keyVersion: 3,
  });
  const pair =
    opts.signer === 'ECDSA'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519');
  const signerKeyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  trustKey(
    db,
    admin,
    pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    'central office test signer',
  );

  const manifest: TestStation['manifest'] = (m) => {
    const prefix = m.prefix ?? 'PE';
    const start = m.start ?? 1;
    const body: ManifestBody = {
      batchId: m.batchId,
      agency: m.agency ?? TEST_AGENCY,
      chipProfile: m.chipProfile ?? TEST_PROFILE,
      stockClass: m.stockClass ?? 'production',
      manufacturer: 'Test Booklet Works',
      createdAt: '2026-01-10T12:00:00Z',
      booklets: Array.from({ length: m.count }, (_, i) => {
        const n = String(start + i).padStart(7, '0');
        return {
          serial: prefix + n,
          chipSerial: `C0${prefix.length}${Buffer.from(prefix).toString('hex').toUpperCase()}${n}`,
          chipUid: null,
        };
      }),
    };
    return { body, text: JSON.stringify(signManifest(body, signerKeyPem), null, 2) };
  };

  return {
    dataDir,
    db,
    users,
    signerKeyPem,
    signerKey: pair.privateKey,
    manifest,
    receive(batchId, count, o = {}) {
      const { body, text } = manifest({ batchId, count, ...o });
      importManifest(db, users.supervisor, text, o.at);
      return body.booklets.map((b) => b.serial);
    },
    close() {
      if (db.open) {
        flushAuditAnchor(db);
        db.close();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Gives the station `stationId` in `dataDir` a fresh audit key held in this process's memory
 * (its anchor file in `dataDir`), for tests and benchmarks that set up a station without key
 * custody. A real station keeps its audit key in key custody (station/keys/audit-key.ts).
 */
export function useTestAuditKey(dataDir: string, stationId: string): AuditKey {
  return rememberAuditKey(dataDir, createMemoryAuditKey(dataDir, stationId));
}

/** A digest of every row of every table: equal before and after means the database is unchanged. */
export function databaseFingerprint(db: Db): string {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .pluck()
    .all() as string[];
  return JSON.stringify(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}"`).raw().all()]));
}
