/**
 * Opening the sync loop of an enrolled station (docs/sync-station.md): the station core starts
 * it, `station sync run` runs it in the foreground. A station with no central office has none.
 */
import type { Db } from '../../db/open.ts';
import { openStationDataKey } from '../applications/index.ts';
import { getStationIdentity } from '../identity.ts';
import type { ApplicationDataKey } from '../keys/data-key.ts';
import { KeyCustodyError } from '../keys/errors.ts';
import { SyncService } from './service.ts';
import { readSyncConfig } from './state.ts';
import { openSyncKey } from './sync-key.ts';

/** The application data key if the station has one (pulled applications are sealed with it). */
export async function openDataKeyIfAny(dataDir: string): Promise<ApplicationDataKey | undefined> {
  try {
    return await openStationDataKey(dataDir);
  } catch (e) {
    if (e instanceof KeyCustodyError) return undefined;
    throw e;
  }
}

export interface OpenedSync {
  service: SyncService;
  close: () => Promise<void>;
}

/** A sync service for an enrolled station, or undefined when it has no central office. */
export async function openSyncService(
  db: Db,
  dataDir: string,
  opts: { intervalMs?: number } = {},
): Promise<OpenedSync | undefined> {
  if (!readSyncConfig(db)) return undefined;
  const { stationId } = getStationIdentity(db);
  const key = openSyncKey(dataDir, stationId);
  const dataKey = await openDataKeyIfAny(dataDir);
  const service = new SyncService({
    db,
    key,
    ...(dataKey ? { dataKey } : {}),
    ...(opts.intervalMs ? { intervalMs: opts.intervalMs } : {}),
  });
  return {
    service,
    close: async () => {
      await service.stop();
      await dataKey?.close();
    },
  };
}
