/**
 * The station sync key: the ECDSA P-256 key pair the station signs its requests to the central
 * office with (docs/sync-station.md). Its own key, not the audit key: the audit key signs the
 * chain the central office verifies, the sync key proves who is talking, and either can be
 * replaced without the other. Kept in key custody like the audit key (station/keys/signing-key.ts):
 *
 * - PKCS#11 (production): a token key pair labelled `sync/<station id>`, generated in the token,
 *   private half sensitive and not extractable, sign only;
 * - development: `dev-sync-key.json` next to the development key file, the private key encrypted
 *   under that file's passphrase (scrypt, AES-256-GCM), opened only in development mode;
 * - memory: tests only.
 */
import type { KeyObject } from 'node:crypto';
import { KeyCustodyError } from '../keys/errors.ts';
import {
  createDevSigningKey,
  createMemorySigningKey,
  OpenedKeys,
  openDevSigningKey,
  publicKeyId,
  signingKeyInCustody,
  spkiPem,
  type SigningKey,
  type SigningKeySpec,
} from '../keys/signing-key.ts';

export type SyncKey = SigningKey;

export const syncKeyLabel = (stationId: string): string => `sync/${stationId}`;
export const DEV_SYNC_KEY_FILE = 'dev-sync-key.json';

/** How custody keeps the sync key (station/keys/signing-key.ts). */
const syncKeySpec: SigningKeySpec = {
  name: 'sync',
  label: syncKeyLabel,
  devFile: DEV_SYNC_KEY_FILE,
  devFormat: 'perso-station/dev-sync-key',
  missingCode: 'KEY_FILE_MISSING',
  missingHint: "run 'station sync enrol'",
  configNeed: 'the sync key is kept there',
  boundedDevFile: true,
  refuseEmptyPassphrase: false,
  detailedReadErrors: false,
  requireTokenObject: false,
  badPointMessage: 'the sync public key is not an uncompressed point',
};

/** The public key in PEM (SubjectPublicKeyInfo). */
export function syncPublicKeyPem(key: { publicKey: KeyObject }): string {
  return spkiPem(key.publicKey);
}

/** SHA-256 of the SubjectPublicKeyInfo DER, hex: how messages name the key. */
export function syncKeyId(publicKey: KeyObject): string {
  return publicKeyId(publicKey);
}

/** A fresh key in this process's memory: tests and benchmarks only. */
export function createMemorySyncKey(stationId: string): SyncKey {
  return createMemorySigningKey(syncKeySpec, stationId);
}

export function createDevSyncKey(keyDir: string, stationId: string, passphrase: string): SyncKey {
  return createDevSigningKey(syncKeySpec, keyDir, stationId, passphrase);
}

export function openDevSyncKey(keyDir: string, stationId: string, passphrase: string): SyncKey {
  return openDevSigningKey(syncKeySpec, keyDir, stationId, passphrase);
}

// --- the station's sync key -------------------------------------------------------------------

const opened = new OpenedKeys<SyncKey>();

/** Keeps `key` as the sync key of `dataDir` for this process (tests give a memory key). */
export function rememberSyncKey(dataDir: string, key: SyncKey): SyncKey {
  return opened.remember(dataDir, key);
}

export function forgetSyncKeys(): void {
  opened.forget();
}

/** The sync key of the station in `dataDir` from its key custody, or the one this process holds. */
export function openSyncKey(
  dataDir: string,
  stationId: string,
  env: NodeJS.ProcessEnv = process.env,
): SyncKey {
  const known = opened.get(dataDir, stationId);
  if (known) return known;
  return rememberSyncKey(dataDir, signingKeyInCustody(syncKeySpec, dataDir, stationId, env, false));
}

/** The sync key for enrolment: the one in custody if there is one, else a new one made there. */
export function openOrCreateSyncKey(
  dataDir: string,
  stationId: string,
  env: NodeJS.ProcessEnv = process.env,
): SyncKey {
  try {
    return openSyncKey(dataDir, stationId, env);
  } catch (e) {
    if (!(e instanceof KeyCustodyError) || e.code !== 'KEY_FILE_MISSING') throw e;
  }
  return rememberSyncKey(dataDir, signingKeyInCustody(syncKeySpec, dataDir, stationId, env, true));
}
