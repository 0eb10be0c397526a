import { verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as graphene from 'graphene-pk11';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSoftHsmToken, type SoftHsmToken } from '../../test/helpers/softhsm.ts';
import {
  auditKeyId,
  createAuditKey,
  createDevAuditKey,
  DEV_AUDIT_KEY_FILE,
  forgetAuditKeys,
  openAuditKey,
  openDevAuditKey,
} from './audit-key.ts';
import { writeKeyCustodyConfig } from './open.ts';

const verifies = (key: { publicKey: KeyObject }, data: Buffer, sig: Buffer) =>
  verify('sha256', data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, sig);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-key-'));
});
afterAll(() => {
  forgetAuditKeys();
  rmSync(dir, { recursive: true, force: true });
});

describe('development audit key file', () => {
  it('keeps the private key encrypted under the passphrase and bound to its station', () => {
    const keyDir = mkdtempSync(join(dir, 'dev-'));
    const created = createDevAuditKey(keyDir, 'LIM-AIR-01', 'a dev passphrase');
    const text = readFileSync(join(keyDir, DEV_AUDIT_KEY_FILE), 'utf8');
    expect(text).not.toMatch(/PRIVATE KEY/);
    expect(() => createDevAuditKey(keyDir, 'LIM-AIR-01', 'a dev passphrase')).toThrow(
      /exists already/,
    );
    expect(() => openDevAuditKey(keyDir, 'LIM-AIR-01', 'wrong passphrase')).toThrow(
      /wrong passphrase, or the file was altered/,
    );
    expect(() => openDevAuditKey(keyDir, 'CUZ-01', 'a dev passphrase')).toThrow(
      /holds the audit key of station LIM-AIR-01, not CUZ-01/,
    );
    const opened = openDevAuditKey(keyDir, 'LIM-AIR-01', 'a dev passphrase');
    expect(auditKeyId(opened.publicKey)).toBe(auditKeyId(created.publicKey));
    const data = Buffer.from('entry');
    expect(verifies(created, data, opened.sign(data))).toBe(true);
    // A public key swapped in the file (to make forged signatures pass) breaks decryption.
    const other = createDevAuditKey(mkdtempSync(join(dir, 'dev-')), 'LIM-AIR-01', 'x-passphrase');
    const doc = JSON.parse(text) as { publicKey: string };
    doc.publicKey = other.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    writeFileSync(join(keyDir, DEV_AUDIT_KEY_FILE), JSON.stringify(doc));
    expect(() => openDevAuditKey(keyDir, 'LIM-AIR-01', 'a dev passphrase')).toThrow(
      /wrong passphrase, or the file was altered/,
    );
  });

  it('is refused outside development mode', () => {
    const d = mkdtempSync(join(dir, 'prod-'));
    writeKeyCustodyConfig(d, { kind: 'dev-file', path: 'keys.json', passphraseEnv: 'P' });
    expect(() => openAuditKey(d, 'LIM-AIR-01', { P: 'x', STATION_MODE: 'production' })).toThrow(
      /refusing the development audit key .*not in development mode/,
    );
  });
});

describe('audit key in a PKCS#11 token (SoftHSM2)', () => {
  let token: SoftHsmToken;
  let data: string;
  const env = (): NodeJS.ProcessEnv => ({ AUDIT_TEST_PIN: token.userPin });
  beforeAll(() => {
    token = createSoftHsmToken('audit-key-test');
    data = mkdtempSync(join(dir, 'pkcs11-'));
    writeKeyCustodyConfig(data, {
      kind: 'pkcs11',
      module: token.module,
      token: token.label,
      pinEnv: 'AUDIT_TEST_PIN',
    });
  });
  afterAll(() => {
    forgetAuditKeys();
    token?.cleanup();
  });

  it('generates a non-extractable key, signs in the token, and keeps the anchor there', () => {
    expect(() => openAuditKey(data, 'LIM-AIR-01', env())).toThrow(
      /holds no audit key audit\/LIM-AIR-01 .*station audit enroll-key/,
    );
    const key = createAuditKey(data, 'LIM-AIR-01', env());
    expect(key.kind).toBe('pkcs11');
    const msg = Buffer.from('perso-station/audit-entry@1\nabc');
    expect(verifies(key, msg, key.sign(msg))).toBe(true);
    expect(key.readAnchor()).toBeUndefined();
    key.writeAnchor({ seq: 1, hash: 'a'.repeat(64), signature: 'c2ln' });
    key.writeAnchor({ seq: 2, hash: 'b'.repeat(64), signature: 'c2ln' });
    forgetAuditKeys(); // another process
    expect(() => createAuditKey(data, 'LIM-AIR-01', env())).toThrow(/already holds an audit key/);
    forgetAuditKeys();
    const again = openAuditKey(data, 'LIM-AIR-01', env());
    expect(auditKeyId(again.publicKey)).toBe(auditKeyId(key.publicKey));
    expect(again.readAnchor()).toEqual({ seq: 2, hash: 'b'.repeat(64), signature: 'c2ln' });
    forgetAuditKeys();
    // The private half cannot be read out of the token.
    const mod = graphene.Module.load(token.module, 'check');
    mod.initialize();
    try {
      const session = mod.getSlots(true).items(0).open(graphene.SessionFlag.SERIAL_SESSION);
      session.login(token.userPin, graphene.UserType.USER);
      const priv = session
        .find({ class: graphene.ObjectClass.PRIVATE_KEY, label: 'audit/LIM-AIR-01' })
        .items(0);
      expect(priv.getAttribute({ sensitive: null, extractable: null })).toEqual({
        sensitive: true,
        extractable: false,
      });
      session.close();
    } finally {
      mod.finalize();
    }
  });

  it('names the missing PIN', () => {
    forgetAuditKeys();
    expect(() => openAuditKey(data, 'LIM-AIR-01', {})).toThrow(
      /PIN of token 'audit-key-test' is missing: set the environment variable AUDIT_TEST_PIN/,
    );
  });
});
