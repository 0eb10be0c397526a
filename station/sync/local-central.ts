/**
 * Development only: a central office on this machine for the demo, started with the station
 * (`station start --dev --with-central`, `npm start -- --with-central`; docs/sync-station.md
 * "A local central office for the demo"). The composition root starts the office
 * (cli/local-central.ts: station/ never imports central/); this module decides, from the
 * station's enrolment, on which port it starts and whether the station must be enrolled with
 * it, and enrols it through the same use case as `station sync enrol` with a one-time code the
 * office's admin API issued. The station core then starts its sync loop against it as for any
 * enrolled station.
 */
import { createPublicKey } from 'node:crypto';
import type { Db } from '../../db/open.ts';
import { auditKeyOf } from '../audit.ts';
import { AuthenticationError, StationError } from '../errors.ts';
import { getStationIdentity } from '../identity.ts';
import { auditPublicKeyPem } from '../keys/audit-key.ts';
import { isDevelopmentMode } from '../keys/open.ts';
import { publicKeyId } from '../keys/signing-key.ts';
import { authenticate } from '../users.ts';
import { enrolStation } from './enrol.ts';
import { readSyncConfig } from './state.ts';
import { openOrCreateSyncKey, syncKeyId } from './sync-key.ts';

/** A central office in a data directory of this machine, not started yet. */
export interface LocalCentralOffice {
  dataDir: string;
  /** Where its admin token is (the path is said; the token never is). */
  adminTokenFile: string;
  /** The public half (SPKI PEM) of its allowance-signing key, if it was ever started. */
  existingKeyPem(): string | undefined;
  /** Starts it on 127.0.0.1 at `port` (0: any free one). */
  start(port: number): Promise<RunningLocalCentral>;
}

export interface RunningLocalCentral {
  url: string;
  /** 'pglite' (embedded in its data directory). */
  backend: string;
  /** A one-time enrolment code for `stationId`, through the office's admin API (its token). */
  issueEnrolCode(stationId: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Who enrols a development station with its local office: the development seed's admin,
 * signed in with the public development PIN (which only development mode knows, as it knows
 * the development passphrase), naming the development supervisor on whose behalf pulled items
 * are applied. Given by the composition root (the seed is the simulator's).
 */
export interface DevelopmentEnroller {
  admin: string;
  pin: string;
  supervisor: string;
}

/** The refusal outside development mode. */
export const LOCAL_CENTRAL_DEVELOPMENT_ONLY =
  '--with-central starts a central office on this machine for the demo and enrols the development station with it, ' +
  'so it is for development mode only: station start --dev --with-central (or npm start -- --with-central); ' +
  'a production station is enrolled by its admin with station sync enrol';

/** What the audit entry `sync.enrolled` says about an enrolment made this way. */
export const LOCAL_CENTRAL_VIA = 'station start --with-central (development)';

/** The local central office was refused: nothing is left running. */
export class LocalCentralRefusedError extends StationError {
  constructor(message: string) {
    super(message, 'local_central_refused');
    this.name = 'LocalCentralRefusedError';
  }
}

const keyIdOf = (pem: string): string => publicKeyId(createPublicKey(pem)).slice(0, 16);
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Starts the local central office for the station of `db` and leaves the station enrolled with
 * it: enrols it the first time; later reuses the enrolment, on the port it was enrolled at.
 * Refuses outside development mode, and when the station is enrolled with another office.
 */
export async function openLocalCentral(
  db: Db,
  stationDataDir: string,
  office: LocalCentralOffice,
  enroller: DevelopmentEnroller,
  note: (line: string) => void = () => undefined,
): Promise<RunningLocalCentral> {
  if (!isDevelopmentMode()) throw new LocalCentralRefusedError(LOCAL_CENTRAL_DEVELOPMENT_ONLY);
  const { stationId } = getStationIdentity(db);
  const enrolled = readSyncConfig(db);
  const known = office.existingKeyPem();
  let port = 0;
  if (enrolled) {
    if (!known || keyIdOf(known) !== keyIdOf(enrolled.centralKeyPem))
      throw new LocalCentralRefusedError(
        `station ${stationId} is enrolled with the central office at ${enrolled.centralUrl} (key ${keyIdOf(enrolled.centralKeyPem)}), ` +
          `not with the local one in ${office.dataDir} (${known ? `key ${keyIdOf(known)}` : 'never started'}): ` +
          'start without --with-central to sync with the office it is enrolled with, or give --with-central the directory of the local office it was enrolled with',
      );
    const at = new URL(enrolled.centralUrl);
    if (at.protocol !== 'http:' || at.hostname !== '127.0.0.1' || !at.port)
      throw new LocalCentralRefusedError(
        `station ${stationId} is enrolled with the office of ${office.dataDir} at ${enrolled.centralUrl}, an address the local office cannot take (it listens on http://127.0.0.1:<port>): start without --with-central`,
      );
    port = Number(at.port);
  }
  let running: RunningLocalCentral;
  try {
    running = await office.start(port);
  } catch (e) {
    throw new LocalCentralRefusedError(
      enrolled
        ? `cannot start the local central office in ${office.dataDir} at ${enrolled.centralUrl}, where station ${stationId} is enrolled: ${message(e)}`
        : `cannot start the local central office in ${office.dataDir}: ${message(e)}`,
    );
  }
  note(
    `local central office (development, ${running.backend}) at ${running.url}: data in ${office.dataDir}, ` +
      `its admin token in ${office.adminTokenFile} (e.g. npx central --data-dir ${office.dataDir} report daily)`,
  );
  if (enrolled) {
    note(
      `station ${stationId} is enrolled with it since ${enrolled.enrolledAt}: the enrolment is reused`,
    );
    return running;
  }
  try {
    let code;
    try {
      code = await running.issueEnrolCode(stationId);
    } catch (e) {
      throw new LocalCentralRefusedError(
        `the local central office did not issue an enrolment code for station ${stationId}: ${message(e)}`,
      );
    }
    let admin;
    try {
      admin = authenticate(db, enroller.admin, enroller.pin);
    } catch (e) {
      if (!(e instanceof AuthenticationError)) throw e;
      throw new LocalCentralRefusedError(
        `the development admin "${enroller.admin}" could not sign in with the development PIN to enrol the station: ` +
          `enrol it by hand (station sync enrol --url ${running.url} --code <code from npx central --data-dir ${office.dataDir} enrol-code --station ${stationId}> ...)`,
      );
    }
    const key = openOrCreateSyncKey(stationDataDir, stationId);
    const r = await enrolStation(db, admin, {
      url: running.url,
      code,
      key,
      auditPublicKeyPem: auditPublicKeyPem(auditKeyOf(db)),
      supervisor: enroller.supervisor,
      via: LOCAL_CENTRAL_VIA,
    });
    note(
      `enrolled station ${stationId} with it as ${admin.username} (development PIN), on behalf of ${enroller.supervisor}; ` +
        `sync key ${syncKeyId(key.publicKey).slice(0, 16)}, central office key ${r.centralKeyId.slice(0, 16)}`,
    );
    return running;
  } catch (e) {
    await running.close().catch(() => undefined);
    throw e;
  }
}
