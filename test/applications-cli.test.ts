/**
 * `station applications ...` and `station keys data-key create` end to end on a development
 * station seeded by `station dev seed`.
 */
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_PIN } from '../simulator/seed.ts';
import { DEV_DATA_KEY_FILE } from '../station/keys/data-key.ts';
import { runCli } from './helpers/cli.ts';
import { DEV_ENV } from './intake-support.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures/mrtd');
const root = mkdtempSync(join(tmpdir(), 'applications-cli-'));
const dataDir = join(root, 'data');
const files = join(root, 'files');
const saved = { ...process.env };

const cli = (...args: string[]) => runCli(['--data-dir', dataDir, ...args]);
const as = (user: string, ...args: string[]) => cli(...args, '--user', user);

function applicationFile(name: string, over: Record<string, unknown> = {}): string {
  const { documentNumber: _n, ...base } = JSON.parse(
    readFileSync(join(FIXTURES, 'application.json'), 'utf8'),
  ) as Record<string, unknown>;
  const path = join(files, name);
  writeFileSync(path, JSON.stringify({ ...base, ...over }));
  return path;
}

beforeAll(async () => {
  Object.assign(process.env, DEV_ENV, { STATION_PIN: DEV_PIN });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(files);
  copyFileSync(join(FIXTURES, 'face.jpg'), join(files, 'face.jpg'));
  copyFileSync(join(FIXTURES, 'signature.jpg'), join(files, 'signature.jpg'));
  const seed = await cli('dev', 'seed', '--scenario', 'foreign-loan');
  expect(seed.code, seed.stderr).toBe(0);
});
afterAll(() => {
  for (const k of ['STATION_MODE', 'STATION_DEV_KEYS_PASSPHRASE', 'STATION_PIN'] as const) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  rmSync(root, { recursive: true, force: true });
});

describe('station applications', () => {
  it('imports, lists without personal data, shows to a supervisor only, holds and cancels', async () => {
    const imported = await as('supervisor', 'applications', 'import', applicationFile('a.json'));
    expect(imported.stderr).toBe('');
    expect(imported.stdout).toBe('queued application 1');
    const second = await as(
      'supervisor',
      'applications',
      'import',
      applicationFile('b.json', { surname: 'Quispe' }),
      '--json',
    );
    expect(JSON.parse(second.stdout)).toMatchObject({ id: 2, status: 'queued' });

    const list = await as('operator', 'applications', 'list');
    expect(list.code, list.stderr).toBe(0);
    expect(list.out).toHaveLength(2);
    expect(list.out[0]).toMatch(/^ +1 {2}queued +P {2}PER {2}received /);
    expect(list.stdout).not.toMatch(/N[úu]ñez|Quispe|1985/);

    const refused = await as('operator', 'applications', 'show', '1');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /operator \(operator\) may not see an application's personal data/,
    );
    expect(refused.stdout).toBe('');

    const shown = await as('supervisor', 'applications', 'show', '2');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/ {2}surname: Quispe/);
    expect(shown.stdout).toMatch(/ {2}dateOfBirth: 1985-03-14/);
    expect(shown.stdout).toMatch(/ {2}face: 12713 bytes/);

    expect((await as('operator', 'applications', 'cancel', '1')).stderr).toMatch(
      /may not cancel applications/,
    );
    expect((await as('supervisor', 'applications', 'hold', '1')).stdout).toBe(
      'held application 1: on_hold',
    );
    expect((await as('supervisor', 'applications', 'release', '1')).stdout).toBe(
      'released application 1: queued',
    );
    expect((await as('supervisor', 'applications', 'cancel', '1')).stdout).toBe(
      'cancelled application 1: cancelled',
    );
    const again = await as('supervisor', 'applications', 'release', '1');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/application 1 is cancelled: it cannot be released/);
    expect((await as('supervisor', 'applications', 'show', '1')).stdout).toMatch(
      /personal data: erased/,
    );
    const all = await as('supervisor', 'applications', 'list', '--all', '--json');
    expect((JSON.parse(all.stdout) as { status: string }[]).map((e) => e.status)).toEqual([
      'cancelled',
      'queued',
    ]);
    const audit = await cli('audit', 'list', '--limit', '10000', '--json');
    expect(audit.stdout).toMatch(/application\.cancelled/);
    expect(audit.stdout).not.toMatch(/Quispe|N[úu]ñez/);
  });

  it('refuses a bad file naming each field on stderr, importing nothing', async () => {
    const before = (await as('supervisor', 'applications', 'list', '--all', '--json')).stdout;
    const r = await as(
      'supervisor',
      'applications',
      'import',
      applicationFile('bad.json', { dateOfExpiry: '1980-01-01', documentNumber: 'PE1' }),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.err).toContain(
      'documentNumber: must not be given: the printed serial of the booklet becomes the document number (got "PE1")',
    );
    expect(r.stderr).toMatch(/^dateOfExpiry: /m);
    expect(r.stderr).toMatch(/station: the application is refused; nothing was imported/);
    expect((await as('supervisor', 'applications', 'list', '--all', '--json')).stdout).toBe(before);
    const audit = await cli('audit', 'list', '--limit', '10000', '--json');
    const refusedEntry = (JSON.parse(audit.stdout) as { action: string; details: unknown }[]).find(
      (a) => a.action === 'application.import_refused',
    );
    expect(refusedEntry?.details).toEqual({
      file: join(files, 'bad.json'),
      fields: ['documentNumber', 'dateOfExpiry'],
    });
    expect(audit.stdout).not.toContain('1980-01-01');
    const wrongId = await as('supervisor', 'applications', 'hold', 'x1');
    expect(wrongId.stderr).toMatch(/application id "x1" is not a positive integer/);
  });

  it('says how to create a missing data key; an admin creates it', async () => {
    unlinkSync(join(dataDir, DEV_DATA_KEY_FILE));
    const r = await as('supervisor', 'applications', 'import', applicationFile('c.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /this station has no application data key .*station keys data-key create --user <admin>/,
    );
    const denied = await as('supervisor', 'keys', 'data-key', 'create');
    expect(denied.stderr).toMatch(/may not create the application data key/);
    const created = await as('admin', 'keys', 'data-key', 'create');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^created the application data key data\/applications\/v1 in /);
    expect(created.stdout).not.toContain(DEV_ENV.STATION_DEV_KEYS_PASSPHRASE);
    const twice = await as('admin', 'keys', 'data-key', 'create');
    expect(twice.stderr).toMatch(/already exists/);
    // A new key: application 2 (sealed under the old one) no longer opens, and says so.
    const lost = await as('supervisor', 'applications', 'show', '2');
    expect(lost.stderr).toMatch(/application 2: its data key does not unwrap/);
    const ok = await as('supervisor', 'applications', 'import', applicationFile('c.json'));
    expect(ok.stdout).toBe('queued application 3');
  });
});
