/** Sync with the central office (docs/sync-station.md): the public surface of station/sync. */
export {
  explainRemoteError,
  SyncClient,
  SyncNetworkError,
  SyncRemoteError,
  type FetchLike,
} from './client.ts';
export { checkCentralUrl, enrolStation, ENROL_PATH, type EnrolOptions } from './enrol.ts';
export {
  checkIssuanceAllowed,
  isReportedLostOrStolen,
  unacknowledgedIssuances,
  verifiedAllowance,
  type IssuanceAllowed,
  type OfflineLimit,
} from './offline.ts';
export { applyPulledItems, pullOnce, PULL_PATH, storeAllowance } from './pull.ts';
export { buildPush, PUSH_PATH, pushOnce, recordAck, stockSnapshot } from './push.ts';
export { applyRetention } from './retention.ts';
export {
  readSyncStatus,
  SyncService,
  type SyncConnection,
  type SyncServiceOptions,
  type SyncStatus,
} from './service.ts';
export { readSyncConfig, readSyncState, waitingRecords } from './state.ts';
export {
  createMemorySyncKey,
  forgetSyncKeys,
  openOrCreateSyncKey,
  openSyncKey,
  rememberSyncKey,
  syncKeyId,
  syncPublicKeyPem,
  type SyncKey,
} from './sync-key.ts';
