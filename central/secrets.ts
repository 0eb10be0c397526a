/**
 * The central office's own secrets in its data directory, each made at first start, 0600:
 * the office key (ECDSA P-256) that signs offline allowances, and the admin token.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CENTRAL_KEY_FILE = 'central-key.pem';
export const ADMIN_TOKEN_FILE = 'admin-token';

export interface CentralKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyPem: string;
  /** SHA-256 of the SubjectPublicKeyInfo DER, hex. */
  keyId: string;
}

export function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
}

/** Reads the file, or creates it with `make()` (exclusive, 0600) when it does not exist. */
function readOrCreate(path: string, make: () => string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  try {
    writeFileSync(path, make(), { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // Another process made it first: use theirs.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return readFileSync(path, 'utf8');
}

export function keyFromPrivatePem(pem: string): CentralKey {
  const privateKey = createPrivateKey(pem);
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: createHash('sha256')
      .update(publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex'),
  };
}

export function generateCentralKey(): CentralKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return keyFromPrivatePem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
}

export function loadCentralKey(dataDir: string): CentralKey {
  const pem = readOrCreate(join(dataDir, CENTRAL_KEY_FILE), () =>
    generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString(),
  );
  return keyFromPrivatePem(pem);
}

export function loadAdminToken(dataDir: string): string {
  return readOrCreate(join(dataDir, ADMIN_TOKEN_FILE), () =>
    randomBytes(32).toString('base64url'),
  ).trim();
}
