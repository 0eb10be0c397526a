/**
 * A station process that only runs the sync loop, for the test that kills it with SIGKILL in
 * the middle of a batch (test/sync-faults.test.ts). Its data directory holds a development
 * sync key; it prints one line per acknowledgement so the parent knows it is under way.
 * Arguments: <data dir> <station id>; STATION_MODE and the passphrase come from the environment.
 */
import { openStationDb } from '../station/identity.ts';
import { openSyncKey, readSyncState, SyncService } from '../station/sync/index.ts';
import { httpFetch } from './helpers/fault-proxy.ts';

const [dataDir, stationId] = process.argv.slice(2);
if (!dataDir || !stationId) throw new Error('usage: sync-child <data dir> <station id>');
const db = openStationDb(dataDir);
const key = openSyncKey(dataDir, stationId);
const service = new SyncService({
  db,
  key,
  fetch: httpFetch,
  intervalMs: 0,
  baseDelayMs: 1,
  maxDelayMs: 10,
  batchSize: 7,
  timeoutMs: 5000,
});
service.on('status', () => {
  process.stdout.write(`acked ${readSyncState(db).ackedOutboxSeq}\n`);
});
service.start();
