/**
 * Bad input through the `station` command: what the person at the terminal sees.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';

const application = join(import.meta.dirname, 'fixtures/mrtd/application.json');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'input-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('station mrz with bad applications', () => {
  it('names an unknown key, and echoes none of the personal data', async () => {
    const app = JSON.parse(readFileSync(application, 'utf8')) as Record<string, unknown>;
    const f = join(dir, 'unknown-key.json');
    writeFileSync(f, JSON.stringify({ ...app, nickname: 'Majo' }));
    for (const args of [
      ['mrz', f],
      ['mrz', f, '--json'],
      ['lds', 'build', '--application', f, '--out', join(dir, 'o'), '--ds-cert', f, '--ds-key', f],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err[0]).toBe(
        'nickname: is not a field of an application (docs/application-format.md)',
      );
      for (const secret of ['Majo', 'PE1234567', 'María', '1985-03-14', '45678912'])
        expect(r.stderr + r.stdout).not.toContain(secret);
    }
  });

  it('refuses a key written twice, a date outside the MRZ window, and an oversized file', async () => {
    const text = readFileSync(application, 'utf8');
    const dup = join(dir, 'dup.json');
    writeFileSync(dup, text.replace('"sex": "F",', '"sex": "F",\n  "sex": "M",'));
    const r = await runCli(['mrz', dup]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'station: the application is not valid JSON: (top level): duplicate key "sex" (line 11); a key may appear once',
    );
    const late = join(dir, 'late.json');
    writeFileSync(late, text.replace('"2036-03-13"', '"2126-03-13"'));
    const r2 = await runCli(['mrz', late]);
    expect(r2.code).toBe(1);
    expect(r2.err).toEqual([
      `dateOfExpiry: is 50 years or more after the date of issue 2026-03-14: the MRZ's two-digit year would read as a century earlier (got "2126-03-13")`,
    ]);
    const big = join(dir, 'big.json');
    writeFileSync(big, '');
    truncateSync(big, 50 * 1024 * 1024);
    const r3 = await runCli(['mrz', big]);
    expect(r3.stderr).toBe(
      `station: the application ${big} is too large: 50 MiB (the limit is 256 KiB)`,
    );
  });
});
