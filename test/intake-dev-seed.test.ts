/**
 * `station dev seed` prepares a development station only: it refuses outside development mode,
 * without the key-file passphrase, over an existing station or key file, and for a scenario that
 * does not exist, each time with a message naming what is wrong and nothing written.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEV_KEY_FILE } from '../station/dev-seed.ts';
import { STATION_LOCK_FILE } from '../station/station-lock.ts';
import { readKeyCustodyConfig } from '../station/keys/open.ts';
import { SIM_AGENCY } from '../simulator/hopper.ts';
import { DEV_ENV } from './intake-support.ts';
import { runCli } from './helpers/cli.ts';

let root: string;
const saved = { ...process.env };

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'dev-seed-'));
});
afterEach(() => {
  for (const k of ['STATION_MODE', 'STATION_DEV_KEYS_PASSPHRASE'] as const) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const seed = (dataDir: string, ...args: string[]): ReturnType<typeof runCli> =>
  runCli(['--data-dir', dataDir, 'dev', 'seed', ...args]);

describe('station dev seed', () => {
  it('refuses outside development mode and writes nothing', async () => {
    delete process.env.STATION_MODE;
    process.env.STATION_DEV_KEYS_PASSPHRASE = DEV_ENV.STATION_DEV_KEYS_PASSPHRASE;
    const dir = join(root, 'production');
    const r = await seed(dir, '--scenario', 'foreign-loan');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/development station: run it with STATION_MODE=development/);
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses without the passphrase of the development key file', async () => {
    process.env.STATION_MODE = 'development';
    delete process.env.STATION_DEV_KEYS_PASSPHRASE;
    const dir = join(root, 'no-passphrase');
    const r = await seed(dir, '--scenario', 'foreign-loan');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/set STATION_DEV_KEYS_PASSPHRASE/);
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses an unknown scenario, naming the ones that exist', async () => {
    Object.assign(process.env, DEV_ENV);
    const dir = join(root, 'unknown');
    const r = await seed(dir, '--scenario', 'no-such-scenario');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no-such-scenario/);
    expect(r.stderr).toMatch(/foreign-loan/);
    expect(existsSync(dir)).toBe(false);
  });

  it('seeds once, then refuses to seed over the station or over a stray key file', async () => {
    Object.assign(process.env, DEV_ENV);
    const dir = join(root, 'seeded');
    const first = await seed(dir, '--scenario', 'foreign-loan', '--json');
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout) as { scenario: string; agency: string };
    expect(summary).toMatchObject({ scenario: 'foreign-loan', agency: SIM_AGENCY });
    // The custody it configures is the development key file, its passphrase named, not stored.
    const config = readKeyCustodyConfig(dir)!;
    expect(config).toMatchObject({
      kind: 'dev-file',
      passphraseEnv: 'STATION_DEV_KEYS_PASSPHRASE',
    });
    expect(JSON.stringify(config)).not.toContain(DEV_ENV.STATION_DEV_KEYS_PASSPHRASE);
    const files = readdirSync(dir).sort();

    const again = await seed(dir, '--scenario', 'foreign-loan');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds a station database/);
    expect(readdirSync(dir).sort()).toEqual(files);

    const stray = join(root, 'stray-key-file');
    mkdirSync(stray);
    writeFileSync(join(stray, DEV_KEY_FILE), '{}');
    const r = await seed(stray, '--scenario', 'foreign-loan');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/exists already; seed into an empty data directory/);
    // Only the data directory's lock file (station/station-lock.ts) was added.
    expect(readdirSync(stray).sort()).toEqual([DEV_KEY_FILE, STATION_LOCK_FILE].sort());
  });
});
