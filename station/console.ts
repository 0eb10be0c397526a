/**
 * What the station console (`station start`) asks of the station before and while it runs:
 * whether a data directory holds an initialised station, without creating a database.
 */
import { NotInitializedError } from './errors.ts';
import { getStationIdentity, openStationDb, stationDbExists } from './identity.ts';
import { readKeyCustodyConfig, type KeyCustodyConfig } from './keys/open.ts';

/**
 * The passphrase of a console-seeded development station's key file when none is given. It is
 * public (it is in this file): `station start` uses it only in development mode, and says so.
 */
export const DEV_CONSOLE_PASSPHRASE = 'perso-station development keys (not for production)';

export type StationSetup =
  /** No database in the data directory. */
  | { state: 'empty' }
  /** A database exists but `station init` (or a dev seed) never completed. */
  | { state: 'uninitialised' }
  | {
      state: 'initialised';
      stationId: string;
      agencyCode: string;
      /** How the station reaches its transport keys (undefined: not configured yet). */
      custody: KeyCustodyConfig['kind'] | undefined;
    };

/** Looks at a data directory without creating anything in it. */
export function inspectStation(dataDir: string): StationSetup {
  if (!stationDbExists(dataDir)) return { state: 'empty' };
  const db = openStationDb(dataDir);
  try {
    const id = getStationIdentity(db);
    return {
      state: 'initialised',
      stationId: id.stationId,
      agencyCode: id.agencyCode,
      custody: readKeyCustodyConfig(dataDir)?.kind,
    };
  } catch (e) {
    if (e instanceof NotInitializedError) return { state: 'uninitialised' };
    throw e;
  } finally {
    db.close();
  }
}
