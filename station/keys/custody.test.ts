import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { diversifyTransportKeys } from '../../mrtd/transport-keys.ts';
import { createSoftHsmToken } from '../../test/helpers/softhsm.ts';
import {
  addPinPepperToDevKeyFile,
  addToDevKeyFile,
  createDevKeyFile,
  importTransportMasterKey,
  keyCheckValue,
  KeyCustodyError,
  openTransportKeyCustody,
  pinPepperOf,
  readKeyCustodyConfig,
  writeKeyCustodyConfig,
  type KeyCustodyConfig,
} from './index.ts';

const token = createSoftHsmToken('perso-keys');
const dir = mkdtempSync(join(tmpdir(), 'custody-'));
afterAll(() => {
  token.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const target = { module: token.module, token: token.label, pin: token.userPin };
const pkcs11Config: KeyCustodyConfig = {
  kind: 'pkcs11',
  module: token.module,
  token: token.label,
  pinEnv: 'TEST_HSM_PIN',
};
const env = { TEST_HSM_PIN: token.userPin, TEST_DEV_PASS: 'correct horse battery staple' };

const masterMig = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const masterMre = Buffer.from('f0e0d0c0b0a090807060504030201000', 'hex');
const chipA = { chipSerial: 'PE0000001', chipUid: Buffer.from('04112233445566', 'hex') };
const chipB = { chipSerial: 'PE0000002', chipUid: Buffer.from('04112233445567', 'hex') };

async function rejection(p: Promise<unknown>): Promise<KeyCustodyError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KeyCustodyError);
  return e as KeyCustodyError;
}

describe('PKCS#11 custody (SoftHSM2)', () => {
  it('imports master keys as sensitive, non-extractable token objects', async () => {
    const imported = await importTransportMasterKey(target, {
      agency: 'MIGRACIONES',
      keyVersion: 1,
      key: masterMig,
    });
    expect(imported).toEqual({
      label: 'transport/MIGRACIONES/v1',
      agency: 'MIGRACIONES',
      keyVersion: 1,
      kcv: keyCheckValue(masterMig),
    });
    await importTransportMasterKey(target, { agency: 'RREE', keyVersion: 3, key: masterMre });
  });

  it('refuses to replace an existing key version', async () => {
    const e = await rejection(
      importTransportMasterKey(target, { agency: 'MIGRACIONES', keyVersion: 1, key: masterMre }),
    );
    expect(e.code).toBe('KEY_ALREADY_EXISTS');
    expect(e.message).toContain('transport/MIGRACIONES/v1');
  });

  it('derives, inside the token, exactly the keys the software derivation gives', async () => {
    const custody = await openTransportKeyCustody(pkcs11Config, { env });
    try {
      expect(custody.kind).toBe('pkcs11');
      for (const chip of [chipA, chipB]) {
        expect(await custody.chipKeys('MIGRACIONES', 1, chip)).toEqual(
          diversifyTransportKeys(masterMig, chip),
        );
        expect(await custody.chipKeys('RREE', 3, chip)).toEqual(
          diversifyTransportKeys(masterMre, chip),
        );
      }
      const a = await custody.chipKeys('MIGRACIONES', 1, chipA);
      const b = await custody.chipKeys('MIGRACIONES', 1, chipB);
      expect(a.enc.equals(b.enc) || a.mac.equals(b.mac) || a.dek.equals(b.dek)).toBe(false);
      expect(await custody.has('MIGRACIONES', 1)).toBe(true);
      expect(await custody.has('MIGRACIONES', 2)).toBe(false);
      expect(await custody.list()).toEqual([
        {
          agency: 'MIGRACIONES',
          keyVersion: 1,
          label: 'transport/MIGRACIONES/v1',
          kcv: keyCheckValue(masterMig),
        },
        {
          agency: 'RREE',
          keyVersion: 3,
          label: 'transport/RREE/v3',
          kcv: keyCheckValue(masterMre),
        },
      ]);
    } finally {
      await custody.close();
    }
  });

  it('keeps the master inside the token: its value cannot be read', async () => {
    const graphene = await import('graphene-pk11');
    const mod = graphene.Module.load(token.module);
    mod.initialize();
    try {
      const slot = mod.getSlots(true).items(0);
      const session = slot.open(graphene.SessionFlag.SERIAL_SESSION);
      session.login(token.userPin);
      const key = session.find({ label: 'transport/MIGRACIONES/v1' }).items(0);
      expect(key.getAttribute({ sensitive: null, extractable: null })).toEqual({
        sensitive: true,
        extractable: false,
      });
      expect(() => key.getAttribute('value')).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      session.close();
    } finally {
      mod.finalize();
    }
  });

  it('refuses a master key another tool made that may derive, wrap, unwrap, encrypt or decrypt', async () => {
    const graphene = await import('graphene-pk11');
    const uses = ['derive', 'wrap', 'unwrap', 'encrypt', 'decrypt'] as const;
    const mod = graphene.Module.load(token.module);
    mod.initialize();
    try {
      const session = mod
        .getSlots(true)
        .items(0)
        .open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
      session.login(token.userPin);
      for (const use of uses) {
        const label = `transport/LAX-${use.toUpperCase()}/v1`;
        session.create({
          class: graphene.ObjectClass.SECRET_KEY,
          keyType: graphene.KeyType.AES,
          token: true,
          private: true,
          sensitive: true,
          extractable: false,
          sign: true,
          verify: false,
          encrypt: false,
          decrypt: false,
          wrap: false,
          unwrap: false,
          derive: false,
          [use]: true,
          label,
          id: Buffer.from(label),
          value: Buffer.from(masterMig),
        });
      }
      session.close();
    } finally {
      mod.finalize();
    }
    const custody = await openTransportKeyCustody(pkcs11Config, { env });
    try {
      for (const use of uses) {
        const e = await rejection(custody.chipKeys(`LAX-${use.toUpperCase()}`, 1, chipA));
        expect(e.code).toBe('KEY_NOT_PROTECTED');
        expect(e.message).toBe(
          `refusing to use transport/LAX-${use.toUpperCase()}/v1 in token 'perso-keys': it may be used for more than MACs (CKA_${use.toUpperCase()} not false); re-import it with 'station keys import'`,
        );
      }
      // The keys the station imported itself pass the same check.
      expect(await custody.chipKeys('MIGRACIONES', 1, chipA)).toEqual(
        diversifyTransportKeys(masterMig, chipA),
      );
    } finally {
      await custody.close();
    }
  });

  it('names an unknown agency or key version clearly', async () => {
    const custody = await openTransportKeyCustody(pkcs11Config, { env });
    try {
      const e = await rejection(custody.chipKeys('CANCILLERIA', 1, chipA));
      expect(e.code).toBe('UNKNOWN_TRANSPORT_KEY');
      expect(e.message).toBe(
        "no transport master key for agency CANCILLERIA, key version 1 in token 'perso-keys'",
      );
      const v = await rejection(custody.chipKeys('MIGRACIONES', 9, chipA));
      expect(v.message).toMatch(/agency MIGRACIONES, key version 9/);
      const bad = await rejection(custody.chipKeys('MIGRACIONES', 0, chipA));
      expect(bad.code).toBe('INVALID_INPUT');
      const chip = await rejection(
        custody.chipKeys('MIGRACIONES', 1, { ...chipA, chipUid: Buffer.alloc(0) }),
      );
      expect(chip.message).toMatch(/chip UID is empty/);
    } finally {
      await custody.close();
    }
    const closed = await rejection(custody.has('MIGRACIONES', 1));
    expect(closed.code).toBe('CLOSED');
  });

  it('reports a wrong PIN, a missing PIN and a missing token without revealing the PIN', async () => {
    const wrong = await rejection(
      openTransportKeyCustody(pkcs11Config, { env: { TEST_HSM_PIN: '99999' } }),
    );
    expect(wrong.code).toBe('PIN_REFUSED');
    expect(wrong.message).not.toContain('99999');
    const missing = await rejection(openTransportKeyCustody(pkcs11Config, { env: {} }));
    expect(missing.code).toBe('SECRET_MISSING');
    expect(missing.message).toContain('TEST_HSM_PIN');
    const noToken = await rejection(
      openTransportKeyCustody({ ...pkcs11Config, token: 'elsewhere' }, { env }),
    );
    expect(noToken.code).toBe('TOKEN_NOT_FOUND');
    expect(noToken.message).toContain("'perso-keys'");
    const noModule = await rejection(
      openTransportKeyCustody({ ...pkcs11Config, module: join(dir, 'nope.so') }, { env }),
    );
    expect(noModule.code).toBe('MODULE_LOAD_FAILED');
  });
});

describe('development key file custody', () => {
  const file = join(dir, 'dev-keys.json');
  const devConfig: KeyCustodyConfig = {
    kind: 'dev-file',
    path: file,
    passphraseEnv: 'TEST_DEV_PASS',
  };

  it('creates an encrypted file that holds no key in the clear', async () => {
    const infos = await createDevKeyFile(file, env.TEST_DEV_PASS, [
      { agency: 'MIGRACIONES', keyVersion: 1, key: masterMig },
    ]);
    expect(infos.map((i) => i.label)).toEqual(['transport/MIGRACIONES/v1']);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(masterMig.toString('hex'));
    expect(text).not.toContain(masterMig.toString('base64'));
    expect(JSON.parse(text)).toMatchObject({
      format: 'perso-station/dev-transport-keys',
      kdf: { name: 'scrypt', N: 32768 },
    });
    const again = await rejection(createDevKeyFile(file, env.TEST_DEV_PASS, []));
    expect(again.code).toBe('KEY_FILE_EXISTS');
  });

  it('adds keys and refuses duplicates', async () => {
    const infos = await addToDevKeyFile(file, env.TEST_DEV_PASS, [
      { agency: 'RREE', keyVersion: 3, key: masterMre },
    ]);
    expect(infos.map((i) => i.label)).toEqual(['transport/MIGRACIONES/v1', 'transport/RREE/v3']);
    const dup = await rejection(
      addToDevKeyFile(file, env.TEST_DEV_PASS, [{ agency: 'RREE', keyVersion: 3, key: masterMig }]),
    );
    expect(dup.code).toBe('KEY_ALREADY_EXISTS');
  });

  it('is refused outside development mode, with a clear message', async () => {
    const e = await rejection(openTransportKeyCustody(devConfig, { env }));
    expect(e.code).toBe('DEVELOPMENT_ONLY');
    expect(e.message).toMatch(/development only/);
    expect(e.message).toMatch(/STATION_MODE=development/);
    const explicit = await rejection(
      openTransportKeyCustody(devConfig, {
        env: { ...env, STATION_MODE: 'development' },
        development: false,
      }),
    );
    expect(explicit.code).toBe('DEVELOPMENT_ONLY');
  });

  it('opens in development mode and derives the same keys as the token', async () => {
    for (const options of [
      { env, development: true },
      { env: { ...env, STATION_MODE: 'development' } },
    ]) {
      const custody = await openTransportKeyCustody(devConfig, options);
      try {
        expect(custody.kind).toBe('dev-file');
        expect(await custody.chipKeys('RREE', 3, chipB)).toEqual(
          diversifyTransportKeys(masterMre, chipB),
        );
        expect(await custody.has('MIGRACIONES', 1)).toBe(true);
        const e = await rejection(custody.chipKeys('MIGRACIONES', 2, chipA));
        expect(e.code).toBe('UNKNOWN_TRANSPORT_KEY');
      } finally {
        await custody.close();
      }
    }
  });

  it('overwrites every copy of the decrypted master keys it made when closed', async () => {
    // Every buffer made while opening and using the custody that holds a master key's bytes.
    const masters = [masterMig, masterMre];
    const copies: Buffer[] = [];
    const realFrom = Buffer.from.bind(Buffer) as (...args: unknown[]) => Buffer;
    const spy = vi.spyOn(Buffer, 'from').mockImplementation(((...args: unknown[]) => {
      const b = realFrom(...args);
      if (masters.some((m) => m.equals(b))) copies.push(b);
      return b;
    }) as typeof Buffer.from);
    let custody;
    try {
      custody = await openTransportKeyCustody(devConfig, { env, development: true });
      await custody.chipKeys('RREE', 3, chipA);
    } finally {
      spy.mockRestore();
    }
    expect(copies.length).toBeGreaterThanOrEqual(2); // one per key in the file, at least
    await custody.close();
    for (const b of copies) expect(b.every((byte) => byte === 0)).toBe(true);
  });

  it('holds a PIN pepper that survives adding keys and stops with the custody', async () => {
    const path = join(dir, 'pepper-keys.json');
    await createDevKeyFile(path, env.TEST_DEV_PASS, [
      { agency: 'MIGRACIONES', keyVersion: 1, key: masterMig },
    ]);
    const cfg = { ...devConfig, path };
    const open = () => openTransportKeyCustody(cfg, { env, development: true });
    const before = await open();
    expect(pinPepperOf(before)).toBeUndefined();
    await before.close();
    await addPinPepperToDevKeyFile(path, env.TEST_DEV_PASS);
    const again = await rejection(addPinPepperToDevKeyFile(path, env.TEST_DEV_PASS));
    expect(again.code).toBe('KEY_ALREADY_EXISTS');
    const data = Buffer.from('a scrypt output of 32 bytes.....');
    const first = await open();
    const tag = pinPepperOf(first)!.mac(data);
    expect(tag).toHaveLength(16);
    expect(pinPepperOf(first)!.label).toBe('station/pin-pepper');
    await first.close();
    expect(() => pinPepperOf(first)).toThrow(/closed/);
    await addToDevKeyFile(path, env.TEST_DEV_PASS, [
      { agency: 'RREE', keyVersion: 3, key: masterMre },
    ]);
    const second = await open();
    try {
      expect(pinPepperOf(second)!.mac(data)).toEqual(tag);
    } finally {
      await second.close();
    }
    expect(readFileSync(path, 'utf8')).not.toContain(tag.toString('hex'));
  });

  it('says clearly when the passphrase is wrong or the file was altered', async () => {
    const wrong = await rejection(
      openTransportKeyCustody(devConfig, {
        development: true,
        env: { TEST_DEV_PASS: 'not the passphrase' },
      }),
    );
    expect(wrong.code).toBe('WRONG_PASSPHRASE');
    expect(wrong.message).toBe(`cannot decrypt ${file}: wrong passphrase, or the file was altered`);
    const altered = join(dir, 'altered.json');
    const json = JSON.parse(readFileSync(file, 'utf8')) as { kdf: { N: number } };
    json.kdf.N = 16384;
    writeFileSync(altered, JSON.stringify(json));
    const e = await rejection(
      openTransportKeyCustody({ ...devConfig, path: altered }, { development: true, env }),
    );
    expect(e.code).toBe('WRONG_PASSPHRASE');
    writeFileSync(altered, '{"format":"something else"}');
    const invalid = await rejection(
      openTransportKeyCustody({ ...devConfig, path: altered }, { development: true, env }),
    );
    expect(invalid.code).toBe('KEY_FILE_INVALID');
  });
});

describe('custody configuration in the data directory', () => {
  it('round-trips and resolves a relative dev-file path against the data directory', () => {
    const dataDir = join(dir, 'data');
    expect(readKeyCustodyConfig(dataDir)).toBeUndefined();
    writeKeyCustodyConfig(dataDir, { kind: 'dev-file', path: 'k.json', passphraseEnv: 'P' });
    expect(readKeyCustodyConfig(dataDir)).toEqual({
      kind: 'dev-file',
      path: join(dataDir, 'k.json'),
      passphraseEnv: 'P',
    });
    writeKeyCustodyConfig(dataDir, pkcs11Config);
    expect(readKeyCustodyConfig(dataDir)).toEqual(pkcs11Config);
    expect(() => writeKeyCustodyConfig(dataDir, { ...pkcs11Config, pinEnv: 'not a name' })).toThrow(
      /pinEnv must be an environment variable name/,
    );
  });
});
