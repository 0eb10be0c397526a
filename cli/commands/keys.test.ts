import { createAuditKey } from '../../station/keys/audit-key.ts';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { diversifyTransportKeys } from '../../mrtd/transport-keys.ts';
import { initStation, openStationDb } from '../../station/identity.ts';
import { openTransportKeyCustody, readKeyCustodyConfig } from '../../station/keys/index.ts';
import { runCli, type CliRun } from '../../test/helpers/cli.ts';
import { createSoftHsmToken } from '../../test/helpers/softhsm.ts';

const token = createSoftHsmToken('cli-keys');
const dir = mkdtempSync(join(tmpdir(), 'cli-keys-'));
const dataDir = join(dir, 'data');
afterAll(() => {
  token.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const MASTER = '8899aabbccddeeff0011223344556677';
const OTHER = '00112233445566778899aabbccddeeff';
const PASSPHRASE = 'dev passphrase for tests';

beforeEach(() => {
  process.env.T_PIN = token.userPin;
  process.env.T_KEY = MASTER;
  process.env.T_OTHER = OTHER;
  process.env.T_PASS = PASSPHRASE;
  delete process.env.STATION_MODE;
});

/** No run may ever print a secret, whatever it did. */
function expectNoSecrets(run: CliRun): void {
  const all = run.stdout + '\n' + run.stderr;
  for (const secret of [MASTER, OTHER, PASSPHRASE, token.userPin]) {
    expect(all.toLowerCase()).not.toContain(secret.toLowerCase());
  }
  expect(all.toLowerCase()).not.toContain(
    Buffer.from(MASTER, 'hex').toString('base64').toLowerCase(),
  );
}

async function cli(args: string[]): Promise<CliRun> {
  const run = await runCli(['--data-dir', dataDir, ...args]);
  expectNoSecrets(run);
  return run;
}

const tokenArgs = ['--pkcs11-module', token.module, '--token', token.label, '--pin-env', 'T_PIN'];

describe('station keys (PKCS#11)', () => {
  it('imports a master key from an environment variable and prints only label and check value', async () => {
    const run = await cli([
      'keys',
      'import',
      ...tokenArgs,
      '--agency',
      'MIGRACIONES',
      '--key-version',
      '2',
      '--key-hex-env',
      'T_KEY',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^imported transport\/MIGRACIONES\/v2 into token 'cli-keys' \(key check value [0-9a-f]{6}\)$/,
    );
  });

  it('refuses to import the same agency and version twice', async () => {
    const run = await cli([
      'keys',
      'import',
      ...tokenArgs,
      '--agency',
      'MIGRACIONES',
      '--key-version',
      '2',
      '--key-hex-env',
      'T_OTHER',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('already holds transport/MIGRACIONES/v2');
  });

  it('rejects bad input with a message naming what is wrong, without echoing the key', async () => {
    process.env.T_KEY = 'zz' + MASTER.slice(2);
    const badKey = await cli([
      'keys',
      'import',
      ...tokenArgs,
      '--agency',
      'MIGRACIONES',
      '--key-version',
      '5',
      '--key-hex-env',
      'T_KEY',
    ]);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain('must be 32, 48 or 64 hexadecimal digits');
    expect(badKey.stderr).not.toContain('zz');
    const unset = await cli([
      'keys',
      'import',
      ...tokenArgs,
      '--agency',
      'MIGRACIONES',
      '--key-version',
      '5',
      '--key-hex-env',
      'T_NOPE',
    ]);
    expect(unset.stderr).toContain('environment variable T_NOPE');
    const version = await cli([
      'keys',
      'import',
      ...tokenArgs,
      '--agency',
      'MIGRACIONES',
      '--key-version',
      '300',
      '--key-hex-env',
      'T_KEY',
    ]);
    expect(version.code).not.toBe(0);
    expect(version.stderr).toContain('from 1 to 255');
    const agency = await cli([
      'keys',
      'import',
      ...tokenArgs,
      '--agency',
      'A/B',
      '--key-version',
      '1',
      '--key-hex-env',
      'T_KEY',
    ]);
    expect(agency.stderr).toContain('agency code "A/B" is not valid');
    process.env.T_PIN = '000000';
    const pin = await cli([
      'keys',
      'import',
      ...tokenArgs,
      '--agency',
      'MIGRACIONES',
      '--key-version',
      '5',
      '--key-hex-env',
      'T_OTHER',
    ]);
    expect(pin.stderr).toContain("token 'cli-keys' refused the PIN");
    expect(pin.stderr).not.toContain('000000');
  });

  it('configures the station and lists keys without key bytes', async () => {
    const conf = await cli(['keys', 'configure', ...tokenArgs]);
    expect(conf.code).toBe(0);
    expect(readKeyCustodyConfig(dataDir)).toEqual({
      kind: 'pkcs11',
      module: token.module,
      token: token.label,
      pinEnv: 'T_PIN',
    });
    const list = await cli(['keys', 'list', '--json']);
    expect(list.code).toBe(0);
    const parsed = JSON.parse(list.stdout) as { custody: string; keys: { label: string }[] };
    expect(parsed.custody).toBe('pkcs11');
    expect(parsed.keys.map((k) => k.label)).toEqual(['transport/MIGRACIONES/v2']);
    const text = await cli(['keys', 'list']);
    expect(text.stdout).toContain('transport/MIGRACIONES/v2  agency MIGRACIONES  key version 2');
    // The imported key really is the one in the environment variable.
    const custody = await openTransportKeyCustody(readKeyCustodyConfig(dataDir)!);
    const chip = { chipSerial: 'PE1', chipUid: Buffer.from('04010203', 'hex') };
    expect(await custody.chipKeys('MIGRACIONES', 2, chip)).toEqual(
      diversifyTransportKeys(Buffer.from(MASTER, 'hex'), chip),
    );
    await custody.close();
  });
});

describe('station keys pin-pepper (PKCS#11)', () => {
  const ADMIN_PIN = '583920';
  it('creates the pepper in the token, protects the stored PINs, and sign-in then needs the token', async () => {
    // As station init does: the audit key first, in the configured token.
    createAuditKey(dataDir, 'LIM-AIR-09');
    const db = openStationDb(dataDir);
    try {
      initStation(db, {
        stationId: 'LIM-AIR-09',
        agencyCode: 'PER-MIGRACIONES',
        adminUsername: 'admin',
        adminSecret: ADMIN_PIN,
        timeZone: 'America/Lima',
      });
    } finally {
      db.close();
    }
    process.env.STATION_PIN = ADMIN_PIN;
    process.env.STATION_NEW_PIN = '611843';
    try {
      const none = await cli(['keys', 'pin-pepper', 'apply', '--user', 'admin']);
      expect(none.stderr).toBe(
        `station: the pkcs11 key custody of ${dataDir} holds no station/pin-pepper: create it with "station keys pin-pepper create"`,
      );
      const created = await cli(['keys', 'pin-pepper', 'create']);
      expect(created.stderr).toBe('');
      expect(created.stdout).toContain(
        "created station/pin-pepper in token 'cli-keys' (AES-256, never extractable)",
      );
      const again = await cli(['keys', 'pin-pepper', 'create']);
      expect(again.stderr).toContain("token 'cli-keys' already holds station/pin-pepper");
      const applied = await cli(['keys', 'pin-pepper', 'apply', '--user', 'admin']);
      expect(applied.stderr).toBe('');
      expect(applied.stdout).toBe(
        'protected 1 stored PIN hash with station/pin-pepper; signing in now needs the key custody',
      );
      const stored = openStationDb(dataDir);
      try {
        expect(stored.prepare('SELECT secret_hash FROM users').pluck().get()).toMatch(
          /^scrypt-mac\$station\/pin-pepper\$/,
        );
      } finally {
        stored.close();
      }
      // Signing in (and storing a new user's PIN) goes through the token.
      const added = await cli(['users', 'add', 'clerk', '--role', 'operator', '--user', 'admin']);
      expect(added.stderr).toBe('');
      expect(added.code).toBe(0);
      // Without the token's PIN the station cannot check any PIN.
      delete process.env.T_PIN;
      const locked = await cli(['users', 'add', 'clerk2', '--role', 'operator', '--user', 'admin']);
      expect(locked.code).toBe(1);
      expect(locked.stderr).toBe(
        "station: this station's PINs need the PIN pepper of its key custody: the PIN of token 'cli-keys' is missing: set the environment variable T_PIN",
      );
    } finally {
      delete process.env.STATION_PIN;
      delete process.env.STATION_NEW_PIN;
    }
  });
});

describe('station keys dev-file', () => {
  const file = join(dir, 'dev-keys.json');

  it('refuses create, add and configure --dev-file outside development mode, writing nothing', async () => {
    const entry = ['--passphrase-env', 'T_PASS', '--agency', 'MIGRACIONES', '--key-version', '1'];
    const runs = {
      create: await cli(['keys', 'dev-file', 'create', '--file', file, ...entry, '--generate']),
      add: await cli(['keys', 'dev-file', 'add', '--file', file, ...entry, '--generate']),
      'configure --dev-file': await cli([
        'keys',
        'configure',
        '--dev-file',
        file,
        '--passphrase-env',
        'T_PASS',
      ]),
    };
    for (const [command, run] of Object.entries(runs)) {
      expect(run.code, command).toBe(1);
      expect(run.stderr).toBe(
        `station: station keys ${command.startsWith('configure') ? '' : 'dev-file '}${command} is for development only, and this station is not in development mode ` +
          "(set STATION_MODE=development on a development machine; production keys go into a PKCS#11 token with 'station keys import')",
      );
    }
    expect(existsSync(file)).toBe(false);
    expect(readKeyCustodyConfig(dataDir)?.kind).toBe('pkcs11'); // as configured above
  });

  it('creates and extends a development key file', async () => {
    process.env.STATION_MODE = 'development';
    const create = await cli([
      'keys',
      'dev-file',
      'create',
      '--file',
      file,
      '--passphrase-env',
      'T_PASS',
      '--agency',
      'MIGRACIONES',
      '--key-version',
      '1',
      '--key-hex-env',
      'T_KEY',
    ]);
    expect(create.stderr).toBe('');
    expect(create.stdout).toContain('transport/MIGRACIONES/v1');
    const add = await cli([
      'keys',
      'dev-file',
      'add',
      '--file',
      file,
      '--passphrase-env',
      'T_PASS',
      '--agency',
      'RREE',
      '--key-version',
      '1',
      '--generate',
      '--json',
    ]);
    expect(add.code).toBe(0);
    expect(
      (JSON.parse(add.stdout) as { keys: { label: string }[] }).keys.map((k) => k.label),
    ).toEqual(['transport/MIGRACIONES/v1', 'transport/RREE/v1']);
    const twoSources = await cli([
      'keys',
      'dev-file',
      'add',
      '--file',
      file,
      '--passphrase-env',
      'T_PASS',
      '--agency',
      'RREE',
      '--key-version',
      '2',
      '--generate',
      '--key-hex-env',
      'T_KEY',
    ]);
    expect(twoSources.stderr).toContain('give exactly one of');
  });

  it('is refused by `keys list` outside development mode, and accepted in it', async () => {
    process.env.STATION_MODE = 'development';
    expect(
      (await cli(['keys', 'configure', '--dev-file', file, '--passphrase-env', 'T_PASS'])).code,
    ).toBe(0);
    delete process.env.STATION_MODE;
    const refused = await cli(['keys', 'list']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/development only/);
    process.env.STATION_MODE = 'development';
    const listed = await cli(['keys', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('transport/RREE/v1');
  });

  it('reports a wrong passphrase clearly', async () => {
    process.env.STATION_MODE = 'development';
    process.env.T_PASS = 'wrong';
    const run = await cli(['keys', 'list']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('wrong passphrase, or the file was altered');
  });
});
