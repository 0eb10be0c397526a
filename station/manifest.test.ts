import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MalformedManifestError,
  MANIFEST_MAX_BYTES,
  parseManifest,
  readManifestFile,
} from './manifest.ts';
import { importManifest, ManifestRefusedError } from './stock.ts';
import { createTestStation, databaseFingerprint, type TestStation } from './testing.ts';

let st: TestStation;
beforeEach(() => {
  st = createTestStation();
});
afterEach(() => st.close());

/** Writes `key` twice: first `first`, then the signed value, which JSON.parse would keep. */
function withDuplicate(text: string, key: string, signed: string, first: string): string {
  const member = `${JSON.stringify(key)}:${JSON.stringify(signed)}`;
  expect(text).toContain(member);
  return text.replace(member, `${JSON.stringify(key)}:${JSON.stringify(first)},${member}`);
}

describe('manifest parsing: one meaning per file', () => {
  const cases: [key: string, signed: string, first: string, where: RegExp][] = [
    ['stockClass', 'production', 'test', /^malformed manifest: body: duplicate key "stockClass"/],
    ['batchId', 'B-DUP', 'B-OTHER', /^malformed manifest: body: duplicate key "batchId"/],
    ['serial', 'PE0000001', 'PE0009999', /body\.booklets\[0\]: duplicate key "serial"/],
    [
      'format',
      'perso-station/stock-manifest@1',
      'perso-station/stock-manifest@0',
      /\(top level\): duplicate key "format"/,
    ],
  ];
  for (const [key, signed, first, where] of cases)
    it(`refuses a signed manifest that names ${key} twice, writing nothing`, () => {
      const signedFile = st.manifest({ batchId: 'B-DUP', count: 2, stockClass: 'production' });
      const text = JSON.stringify(JSON.parse(signedFile.text));
      const forged = withDuplicate(text, key, signed, first);
      // The last value is the signed one: JSON.parse alone would accept the file.
      expect(JSON.parse(forged)).toEqual(JSON.parse(text));
      expect(() => parseManifest(forged)).toThrow(MalformedManifestError);
      expect(() => parseManifest(forged)).toThrow(where);
      const before = databaseFingerprint(st.db);
      const refusal = (() => {
        try {
          importManifest(st.db, st.users.supervisor, forged);
        } catch (e) {
          return e;
        }
      })();
      expect(refusal).toBeInstanceOf(ManifestRefusedError);
      expect((refusal as ManifestRefusedError).reason).toBe('malformed');
      expect(databaseFingerprint(st.db)).toBe(before);
    });

  it('refuses deep nesting before parsing it', () => {
    const start = performance.now();
    expect(() => parseManifest('['.repeat(10_000_000))).toThrow(
      /^malformed manifest: \(file\): nested deeper than 64 levels/,
    );
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('refuses a file over the size limit from its size, saying the limit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
    try {
      const f = join(dir, 'm.json');
      writeFileSync(f, '');
      truncateSync(f, 50 * 1024 * 1024);
      const start = performance.now();
      expect(() => readManifestFile(f)).toThrow(
        `manifest ${f} is too large: 50 MiB (the limit is 32 MiB)`,
      );
      expect(performance.now() - start).toBeLessThan(200);
      expect(() => parseManifest(' '.repeat(MANIFEST_MAX_BYTES + 1))).toThrow(
        'larger than the limit of 32 MiB',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
