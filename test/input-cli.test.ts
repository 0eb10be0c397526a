/**
 * Bad input through the `station` command: what the person at the terminal sees.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signManifest, type ManifestBody } from '../station/manifest.ts';
import { importManifest } from '../station/stock.ts';
import { createTestStation } from '../station/testing.ts';
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

describe('text from files reaches the terminal escaped', () => {
  /** Clears the screen, homes the cursor, and turns the rest of the line around (RLO). */
  const hostile = 'Evil\r\u001b[2J\u001b[H Works\u009b2J \u202etxt.exe';
  /** A character that must never reach the terminal raw. */
  const raw = (line: string): boolean =>
    [...line].some((ch) => {
      const c = ch.codePointAt(0)!;
      return (
        (c < 0x20 && c !== 0x09 && c !== 0x0a) ||
        (c >= 0x7f && c <= 0x9f) ||
        [0x061c, 0x200e, 0x200f].includes(c) ||
        (c >= 0x2028 && c <= 0x202e) ||
        (c >= 0x2066 && c <= 0x2069)
      );
    });

  it('escapes control and bidi characters in the output and errors of several commands', async () => {
    const st = createTestStation();
    try {
      const { text } = st.manifest({ batchId: 'B-ANSI', count: 1 });
      const signed = JSON.parse(text) as { body: ManifestBody };
      // Re-sign with the hostile manufacturer name: a trusted manufacturer's typo or worse.
      const m = signManifest({ ...signed.body, manufacturer: hostile }, st.signerKeyPem);
      importManifest(st.db, st.users.supervisor, JSON.stringify(m));
      const cli = (...args: string[]) => runCli(['--data-dir', st.dataDir, ...args]);

      const show = await cli('stock', 'show', 'PE0000001');
      expect(show.code, show.stderr).toBe(0);
      expect(show.stdout).toContain(
        'from Evil\\u000d\\u001b[2J\\u001b[H Works\\u009b2J \\u202etxt.exe',
      );
      const json = await cli('stock', 'show', 'PE0000001', '--json');
      // Still JSON, and it still means the same text.
      const history = (JSON.parse(json.stdout) as { history: { reason: string }[] }).history;
      expect(history[0]!.reason).toContain(hostile);

      const missing = await cli('stock', 'show', 'PE\u001b[2J');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe('station: no booklet with serial PE\\u001b[2J');

      const app = JSON.parse(readFileSync(application, 'utf8')) as Record<string, unknown>;
      const f = join(dir, 'ansi-key.json');
      writeFileSync(f, JSON.stringify({ ...app, ['\u001b]0;pwned\u0007']: 1 }));
      const mrz = await runCli(['mrz', f]);
      expect(mrz.err).toEqual([
        '\\u001b]0;pwned\\u0007: is not a field of an application (docs/application-format.md)',
      ]);

      for (const r of [show, json, missing, mrz])
        for (const line of [...r.out, ...r.err]) expect(raw(line), line).toBe(false);
    } finally {
      st.close();
    }
  });
});
