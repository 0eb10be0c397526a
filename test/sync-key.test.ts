/** The station sync key in key custody: a development file, and a SoftHSM2 token. */
import { verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyCustodyConfig } from '../station/keys/open.ts';
import {
  forgetSyncKeys,
  openOrCreateSyncKey,
  openSyncKey,
  syncKeyId,
} from '../station/sync/index.ts';
import { DEV_SYNC_KEY_FILE } from '../station/sync/sync-key.ts';
import { createSoftHsmToken, type SoftHsmToken } from './helpers/softhsm.ts';

const signs = (k: ReturnType<typeof openSyncKey>): boolean => {
  const data = Buffer.from('perso-sync/1\nPOST\n/v1/push');
  return verify('sha256', data, { key: k.publicKey, dsaEncoding: 'ieee-p1363' }, k.sign(data));
};

let dir: string;
afterEach(() => {
  forgetSyncKeys();
  rmSync(dir, { recursive: true, force: true });
});

describe('development file', () => {
  it('is made once, encrypted under the passphrase, and opened only in development mode', () => {
    dir = mkdtempSync(join(tmpdir(), 'sync-key-'));
    writeKeyCustodyConfig(dir, { kind: 'dev-file', path: 'dev-keys.json', passphraseEnv: 'P' });
    const env = { STATION_MODE: 'development', P: 'correct horse' };
    const made = openOrCreateSyncKey(dir, 'LIM-AIR-01', env);
    expect(made.kind).toBe('dev-file');
    expect(signs(made)).toBe(true);
    const file = readFileSync(join(dir, DEV_SYNC_KEY_FILE), 'utf8');
    expect(file).not.toMatch(/PRIVATE KEY/);
    forgetSyncKeys();
    const again = openOrCreateSyncKey(dir, 'LIM-AIR-01', env);
    expect(syncKeyId(again.publicKey)).toBe(syncKeyId(made.publicKey));
    forgetSyncKeys();
    expect(() => openSyncKey(dir, 'LIM-AIR-01', { ...env, P: 'wrong' })).toThrow(
      /wrong passphrase/,
    );
    expect(() => openSyncKey(dir, 'LIM-AIR-01', { P: 'correct horse' })).toThrow(
      /not in development mode/,
    );
    try {
      openSyncKey(dir, 'LIM-AIR-01', { ...env, P: 'wrong' });
    } catch (e) {
      expect((e as Error).message).not.toContain('wrong"');
      expect((e as Error).message).not.toContain('correct horse');
    }
  });
});

describe('PKCS#11 (SoftHSM2)', () => {
  let token: SoftHsmToken;
  beforeAll(() => {
    token = createSoftHsmToken('sync-test');
  });
  afterAll(() => token.cleanup());

  it('generates a non-extractable key in the token and finds it again', () => {
    dir = mkdtempSync(join(tmpdir(), 'sync-key-'));
    writeKeyCustodyConfig(dir, {
      kind: 'pkcs11',
      module: token.module,
      token: token.label,
      pinEnv: 'TOKEN_PIN',
    });
    const env = { TOKEN_PIN: token.userPin };
    expect(() => openSyncKey(dir, 'LIM-AIR-01', env)).toThrow(/holds no sync key sync\/LIM-AIR-01/);
    const made = openOrCreateSyncKey(dir, 'LIM-AIR-01', env);
    expect(made.kind).toBe('pkcs11');
    expect(signs(made)).toBe(true);
    forgetSyncKeys();
    const again = openSyncKey(dir, 'LIM-AIR-01', env);
    expect(syncKeyId(again.publicKey)).toBe(syncKeyId(made.publicKey));
    expect(signs(again)).toBe(true);
    forgetSyncKeys();
    expect(() => openSyncKey(dir, 'LIM-AIR-01', { TOKEN_PIN: '0000' })).toThrow(/refused the PIN/);
  });
});
