/**
 * The development key file (and every file written with db/private-files.ts) is written
 * atomically: a temporary file, fsynced, then renamed or linked over the final name, then the
 * directory fsynced. The file system calls are recorded (the real ones still run).
 */
import * as fs from 'node:fs';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KeyCustodyError } from './index.ts';
import { addToDevKeyFile, createDevKeyFile } from './index.ts';

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof fs>();
  const spied: Record<string, unknown> = { ...real };
  for (const name of [
    'openSync',
    'writeFileSync',
    'writeSync',
    'fsyncSync',
    'renameSync',
    'linkSync',
  ] as const)
    spied[name] = vi.fn(real[name]);
  return { ...spied, default: spied };
});

const dir = mkdtempSync(join(tmpdir(), 'dev-key-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => vi.clearAllMocks());

const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

/** What happened to the final path and its directory, in order. */
function events(path: string): string[] {
  const calls: [number, string][] = [];
  const record = (name: string, fn: unknown, describe: (args: unknown[]) => string | undefined) =>
    vi.mocked(fn as (...a: unknown[]) => unknown).mock.calls.forEach((args, i) => {
      const what = describe(args);
      if (what)
        calls.push([
          vi.mocked(fn as (...a: unknown[]) => unknown).mock.invocationCallOrder[i]!,
          `${name} ${what}`,
        ]);
    });
  const name = (p: unknown): string =>
    p === path ? 'FINAL' : p === dir ? 'DIR' : String(p).startsWith(dir) ? 'TEMP' : 'OTHER';
  record('open', fs.openSync, (a) => `${name(a[0])} ${String(a[1])}`);
  record('writeFile', fs.writeFileSync, (a) => name(a[0]));
  record('fsync', fs.fsyncSync, () => 'fd');
  record('rename', fs.renameSync, (a) => `${name(a[0])}->${name(a[1])}`);
  record('link', fs.linkSync, (a) => `${name(a[0])}->${name(a[1])}`);
  return calls.sort((x, y) => x[0] - y[0]).map(([, e]) => e);
}

describe('development key file writes', () => {
  const file = join(dir, 'keys.json');

  it('creates the file through a fsynced temporary file, linked (never overwriting), then fsyncs the directory', async () => {
    await createDevKeyFile(file, 'a passphrase', [{ agency: 'MIG', keyVersion: 1, key }], {
      scryptN: 1 << 14,
    });
    expect(events(file)).toEqual([
      'open TEMP wx',
      'fsync fd',
      'link TEMP->FINAL',
      'open DIR r',
      'fsync fd',
    ]);
    expect(readdirSync(dir)).toEqual(['keys.json']);
    // Exclusive stays exclusive: a second create is refused and leaves the file as it was.
    const before = fs.readFileSync(file, 'utf8');
    const again = await createDevKeyFile(file, 'a passphrase', []).catch((e: unknown) => e);
    expect((again as KeyCustodyError).code).toBe('KEY_FILE_EXISTS');
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
  });

  it('replaces the file through a fsynced temporary file renamed over it', async () => {
    await addToDevKeyFile(file, 'a passphrase', [{ agency: 'RREE', keyVersion: 1, key }]);
    expect(events(file).filter((e) => !e.startsWith('open FINAL r'))).toEqual([
      'open TEMP wx',
      'fsync fd',
      'rename TEMP->FINAL',
      'open DIR r',
      'fsync fd',
    ]);
    expect(readdirSync(dir)).toEqual(['keys.json']);
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe('600');
  });
});
