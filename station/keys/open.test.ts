import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDevKeyFile, DevFileTransportKeyCustody } from './dev-key-file.ts';
import { KeyCustodyError } from './errors.ts';
import { KEY_CUSTODY_CONFIG_FILE, readKeyCustodyConfig } from './open.ts';

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'custody-config-'));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

function refusal(text: string): KeyCustodyError {
  writeFileSync(join(dataDir, KEY_CUSTODY_CONFIG_FILE), text);
  try {
    readKeyCustodyConfig(dataDir);
  } catch (e) {
    expect(e).toBeInstanceOf(KeyCustodyError);
    expect((e as KeyCustodyError).code).toBe('CONFIG_INVALID');
    return e as KeyCustodyError;
  }
  return expect.fail(`accepted: ${text.slice(0, 80)}`);
}

describe('the key custody configuration is read strictly', () => {
  const path = (): string => join(dataDir, KEY_CUSTODY_CONFIG_FILE);

  it('reads a good configuration', () => {
    writeFileSync(
      path(),
      JSON.stringify({ kind: 'pkcs11', module: '/usr/lib/p11.so', token: 'T', pinEnv: 'PIN' }),
    );
    expect(readKeyCustodyConfig(dataDir)).toMatchObject({ kind: 'pkcs11', token: 'T' });
  });

  it('refuses a key written twice (which kind of custody is meant?)', () => {
    const e = refusal(
      '{"kind":"dev-file","kind":"pkcs11","module":"/m.so","token":"T","pinEnv":"PIN"}',
    );
    expect(e.message).toBe(
      `${path()}: (top level): duplicate key "kind" (line 1); a key may appear once`,
    );
  });

  it('refuses an unknown key, naming it', () => {
    const e = refusal(
      JSON.stringify({ kind: 'pkcs11', module: '/m.so', token: 'T', pinEnv: 'PIN', slot: 2 }),
    );
    expect(e.message).toMatch(/\(root\) Unrecognized key: "slot" \(slot\)$/);
  });

  it('refuses an oversized file, or a path longer than any path, saying the limit', () => {
    expect(refusal(' '.repeat(16 * 1024 + 1)).message).toBe(
      `key custody configuration ${path()} is too large: 16.0 KiB (the limit is 16 KiB)`,
    );
    const long = JSON.stringify({ kind: 'dev-file', path: 'x'.repeat(5000), passphraseEnv: 'P' });
    expect(refusal(long).message).toMatch(/path Too big: expected string to have <=4096/);
  });
});

describe('the development key file is read strictly', () => {
  it('refuses a key written twice in the file', async () => {
    const file = join(dataDir, 'dev-keys.json');
    await createDevKeyFile(
      file,
      'pass',
      [{ agency: 'PER-MIGRACIONES', keyVersion: 1, key: Buffer.alloc(16, 7) }],
      { scryptN: 16384 },
    );
    const text = JSON.stringify(JSON.parse(readFileSync(file, 'utf8')));
    writeFileSync(file, text.replace('{"format":', '{"format":"x","format":'));
    const e = await DevFileTransportKeyCustody.openUnchecked(file, 'pass').then(
      () => expect.fail('opened'),
      (x: unknown) => x as KeyCustodyError,
    );
    expect(e.code).toBe('KEY_FILE_INVALID');
    expect(e.message).toMatch(/\(top level\): duplicate key "format"/);
  });

  it('refuses an unknown key in the file', async () => {
    const file = join(dataDir, 'dev-keys.json');
    await createDevKeyFile(
      file,
      'pass',
      [{ agency: 'PER-MIGRACIONES', keyVersion: 1, key: Buffer.alloc(16, 7) }],
      { scryptN: 16384 },
    );
    const json = JSON.parse(readFileSync(file, 'utf8')) as { kdf: Record<string, unknown> };
    json.kdf.iterations = 1;
    writeFileSync(file, JSON.stringify(json));
    const e = await DevFileTransportKeyCustody.openUnchecked(file, 'pass').then(
      () => expect.fail('opened'),
      (x: unknown) => x as KeyCustodyError,
    );
    expect(e.code).toBe('KEY_FILE_INVALID');
    expect(e.message).toMatch(/kdf Unrecognized key: "iterations"/);
  });
});
