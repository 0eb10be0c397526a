/**
 * `station dev seed`: prepares a station database for a simulator scenario: identity, users,
 * agencies and chip profiles, development transport keys, a trusted central-office key,
 * signed manifests imported through the normal import path, allocation to this station, and
 * booklets reported lost or stolen. Development only: the keys live in a development key file
 * (with the station audit key in a development audit key file beside it, and the application
 * data key in dev-data-key.json, under the same passphrase), which the station uses only when
 * started with STATION_MODE=development.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { ScenarioSeed } from '../contracts/dev-seed.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { addAgency, addChipProfile } from './agencies.ts';
import { flushAuditAnchor } from './audit.ts';
import { preparePrivateDataDir } from './data-dir.ts';
import { StationError } from './errors.ts';
import { initStation, openStationDb, stationDbExists } from './identity.ts';
import { createAuditKey } from './keys/audit-key.ts';
import { createDevDataKeyFile, DEV_DATA_KEY_FILE, openDevDataKeyFile } from './keys/data-key.ts';
import { createDevKeyFile } from './keys/dev-key-file.ts';
import { isDevelopmentMode, writeKeyCustodyConfig } from './keys/open.ts';
import { transition } from './lifecycle.ts';
import { signManifest } from './manifest.ts';
import { allocateStock, importManifest, trustKey } from './stock.ts';
import { createUser, type Role } from './users.ts';
import { importApplication } from './applications/index.ts';
import { createDevPki } from './personalization/dev-pki.ts';
import { SPECIMEN_ASSET_DIR } from './personalization/specimen.ts';

/** What a scenario asks of the station side (contracts/dev-seed.ts). */
export type SeedSpec = ScenarioSeed;

export const DEV_KEY_FILE = 'dev-transport-keys.json';
export const DEV_PASSPHRASE_ENV = 'STATION_DEV_KEYS_PASSPHRASE';

export interface SeedResult {
  dataDir: string;
  stationId: string;
  agency: string;
  booklets: number;
  allocated: number;
  lostOrStolen: number;
  /** Applications queued from the scenario. */
  applications: number;
  users: { username: string; role: Role }[];
}

export async function seedStation(
  dataDir: string,
  spec: SeedSpec,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SeedResult> {
  if (!isDevelopmentMode(env))
    throw new StationError(
      'dev seed prepares a development station: run it with STATION_MODE=development',
      'development_only',
    );
  const passphrase = env[DEV_PASSPHRASE_ENV];
  if (!passphrase)
    throw new StationError(
      `set ${DEV_PASSPHRASE_ENV} to the passphrase that will protect the development key file`,
      'secret_missing',
    );
  if (stationDbExists(dataDir))
    throw new StationError(
      `${dataDir} already holds a station database; seed into an empty data directory`,
      'already_initialized',
    );
  const keyFile = join(dataDir, DEV_KEY_FILE);
  if (existsSync(keyFile))
    throw new StationError(
      `${keyFile} exists already; seed into an empty data directory`,
      'exists',
    );
  const admin = spec.users.find((u) => u.role === 'admin');
  const supervisor = spec.users.find((u) => u.role === 'supervisor');
  if (!admin || !supervisor)
    throw new StationError('a seed needs an admin and a supervisor', 'invalid_input');

  preparePrivateDataDir(dataDir);
  // Key custody first: the first audit entry (station.initialised) is signed with the station
  // audit key, generated here next to the development key file.
  await createDevKeyFile(
    keyFile,
    passphrase,
    spec.transportMasters.map((m) => ({
      agency: m.agency,
      keyVersion: m.keyVersion,
      key: Buffer.from(m.keyHex, 'hex'),
    })),
  );
  writeKeyCustodyConfig(dataDir, {
    kind: 'dev-file',
    path: DEV_KEY_FILE,
    passphraseEnv: DEV_PASSPHRASE_ENV,
  });
  createAuditKey(dataDir, spec.station.stationId, env);
  // The application data key (station/applications), under the same passphrase.
  await createDevDataKeyFile(join(dataDir, DEV_DATA_KEY_FILE), passphrase);
  const db = openStationDb(dataDir, env);
  try {
    const { admin: adminActor } = initStation(db, {
      stationId: spec.station.stationId,
      agencyCode: spec.station.agencyCode,
      agencyName: spec.station.agencyName,
      adminUsername: admin.username,
      adminSecret: admin.secret,
      timeZone: spec.station.timeZone,
    });
    const actors = new Map([[admin.username, adminActor]]);
    for (const u of spec.users) {
      if (u === admin) continue;
      actors.set(u.username, createUser(db, adminActor, u));
    }
    const sup = actors.get(supervisor.username)!;
    for (const a of spec.otherAgencies) addAgency(db, adminActor, a.code, a.name);
    for (const p of spec.profiles) addChipProfile(db, adminActor, p);

    // The central office's manifest key, trusted by this station.
    const office = generateKeyPairSync('ed25519');
    trustKey(
      db,
      adminActor,
      office.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      'development central office',
    );
    let booklets = 0;
    for (const body of spec.manifests) {
      const text = JSON.stringify(signManifest(body, office.privateKey));
      booklets += importManifest(db, sup, text).booklets;
    }
    let allocated = 0;
    for (const a of spec.allocations)
      allocated += allocateStock(db, sup, {
        batchId: a.batchId,
        serials: a.serials,
        ...(a.toStation ? { toStation: a.toStation } : {}),
      }).length;
    for (const serial of spec.lostOrStolen)
      transition(db, {
        serial,
        to: 'lost_stolen',
        actor: sup,
        reason: 'reported stolen in transit (scenario)',
      });

    // The Document Signers (production and TEST) a development station signs with.
    await createDevPki(dataDir, spec.station.stationId);
    let applications = 0;
    if (spec.applications?.length) {
      const keys = await openDevDataKeyFile(join(dataDir, DEV_DATA_KEY_FILE), passphrase);
      try {
        for (const a of spec.applications) {
          importApplication(db, keys, sup, JSON.stringify(a), SPECIMEN_ASSET_DIR);
          applications++;
        }
      } finally {
        await keys.close();
      }
    }

    return {
      dataDir,
      applications,
      stationId: spec.station.stationId,
      agency: spec.station.agencyCode,
      booklets,
      allocated,
      lostOrStolen: spec.lostOrStolen.length,
      users: spec.users.map((u) => ({ username: u.username, role: u.role })),
    };
  } finally {
    flushAuditAnchor(db);
    db.close();
  }
}
