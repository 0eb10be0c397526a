import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultHopper, loadHopperFile, makeBooklet, parseHopper } from './hopper.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function file(name: string, content: string): string {
  const d = mkdtempSync(join(tmpdir(), 'hopper-'));
  dirs.push(d);
  const f = join(d, name);
  writeFileSync(f, content);
  return f;
}
const booklet = (): Record<string, unknown> =>
  makeBooklet({ serial: 'PA1000001' }) as unknown as Record<string, unknown>;

describe('hopper files are read strictly', () => {
  it('refuses an unknown key: "fault" for "faults" does not give a fault-free booklet', () => {
    const b: Record<string, unknown> = { ...booklet(), fault: ['dead-chip'] };
    delete b.faults;
    expect(() => parseHopper({ version: 1, booklets: [b] }, 'h.json')).toThrow(
      'h.json: booklets.0: Unrecognized key: "fault" (fault)',
    );
  });

  it('refuses unknown keys at every level', () => {
    const keys = { ...(booklet().transportKeys as object), kek: '00'.repeat(16) };
    expect(() =>
      parseHopper({ version: 1, booklets: [{ ...booklet(), transportKeys: keys }] }),
    ).toThrow(/booklets\.0\.transportKeys: Unrecognized key.*\(kek\)/);
    expect(() =>
      parseHopper({ version: 1, booklets: [{ ...booklet(), prePerso: { agencyCode: 'X' } }] }),
    ).toThrow(/booklets\.0\.prePerso: Unrecognized key.*\(agencyCode\)/);
    expect(() => parseHopper({ version: 1, booklets: [], comment: 'x' })).toThrow(
      /\(root\): Unrecognized key.*\(comment\)/,
    );
  });

  it('refuses a 100 000-character agency in the record override, naming the field', () => {
    const b = { ...booklet(), prePerso: { agency: 'A'.repeat(100_000) } };
    expect(() => parseHopper({ version: 1, booklets: [b] }, 'h.json')).toThrow(
      /^h\.json: booklets\.0\.prePerso\.agency: Too big: expected string to have <=16 characters$/,
    );
  });

  it('refuses a key written twice in the file', () => {
    const text = JSON.stringify({ version: 1, booklets: [booklet()] }).replace(
      '"faults":[]',
      '"faults":["dead-chip"],"faults":[]',
    );
    const f = file('dup.json', text);
    expect(() => loadHopperFile(f)).toThrow(
      `cannot read hopper file ${f}: booklets[0]: duplicate key "faults" (line 1)`,
    );
  });

  it('refuses a file over 8 MiB before reading it, and more booklets than a hopper holds', () => {
    const f = file('big.json', '');
    truncateSync(f, 50 * 1024 * 1024);
    expect(() => loadHopperFile(f)).toThrow(
      `hopper file ${f} is too large: 50 MiB (the limit is 8 MiB)`,
    );
    const h = defaultHopper(1);
    const many = { version: 1, booklets: Array.from({ length: 10_001 }, () => h.booklets[0]) };
    expect(() => parseHopper(many)).toThrow(/booklets: Too big: expected array to have <=10000/);
  });

  it('still reads a good hopper file', () => {
    const f = file('ok.json', JSON.stringify(defaultHopper(3), null, 2));
    expect(loadHopperFile(f).booklets).toHaveLength(3);
  });
});
