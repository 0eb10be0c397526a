import Database from 'better-sqlite3';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signManifest, type ManifestBody } from '../station/manifest.ts';
import { runCli } from './helpers/cli.ts';

let dir: string;
const PIN = 'cli-pin-1357';
const keys = generateKeyPairSync('ed25519');
const cli = (...args: string[]) => runCli(['--data-dir', dir, ...args]);
const asUser = async (user: string, ...args: string[]) => {
  process.env.STATION_PIN = PIN;
  try {
    return await cli(...args, '--user', user);
  } finally {
    delete process.env.STATION_PIN;
  }
};

function manifestFile(name: string, body: Partial<ManifestBody> = {}): string {
  const full: ManifestBody = {
    batchId: 'CLI-B1',
    agency: 'PER-MIGRACIONES',
    chipProfile: 'PER-MIG-V3',
    stockClass: 'production',
    manufacturer: 'Booklet Works',
    createdAt: '2026-05-01T10:00:00Z',
    booklets: Array.from({ length: 20 }, (_, i) => ({
      serial: `PE${String(i + 1).padStart(7, '0')}`,
      chipSerial: `AB${String(i + 1).padStart(8, '0')}`,
      chipUid: null,
    })),
    ...body,
  };
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(signManifest(full, keys.privateKey)));
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ledger-cli-'));
  process.env.STATION_NEW_PIN = PIN;
  const init = await cli(
    'init',
    '--station-id',
    'LIM-AIR-01',
    '--agency',
    'PER-MIGRACIONES',
    '--admin',
    'ana',
    '--time-zone',
    'America/Lima',
    '--json',
  );
  expect(init.code, init.stderr).toBe(0);
  expect((await asUser('ana', 'users', 'add', 'sam', '--role', 'supervisor')).code).toBe(0);
  delete process.env.STATION_NEW_PIN;
  const pem = join(dir, 'signer.pem');
  writeFileSync(pem, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  expect(
    (await asUser('ana', 'stock', 'trust', 'add', pem, '--label', 'central office')).code,
  ).toBe(0);
  const p = await asUser(
    'ana',
    'agency',
    'add-profile',
    '--profile',
    'PER-MIG-V3',
    '--chip-os',
    'ePassOS 4',
    '--applet-version',
    '3.1',
    '--key-version',
    '3',
  );
  expect(p.code, p.stderr).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('station CLI: stock and accountability', () => {
  it('refuses to initialise twice, and asks for a PIN it cannot prompt for', async () => {
    process.env.STATION_NEW_PIN = PIN;
    const again = await cli(
      'init',
      '--station-id',
      'LIM-AIR-09',
      '--agency',
      'PER-MIGRACIONES',
      '--admin',
      'bob',
    );
    delete process.env.STATION_NEW_PIN;
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/initialised already \(LIM-AIR-01\)/);
    const noPin = await cli('stock', 'import', join(dir, 'nothing.json'), '--user', 'sam');
    expect(noPin.stderr).toMatch(/cannot read manifest/);
    const pem = join(dir, 'signer.pem');
    const noPrompt = await cli('stock', 'trust', 'add', pem, '--label', 'x', '--user', 'ana');
    expect(noPrompt.stderr).toMatch(/no PIN given: set STATION_PIN/);
  });

  it('refuses a database from a newer version', async () => {
    const other = mkdtempSync(join(tmpdir(), 'ledger-cli-new-'));
    try {
      const raw = new Database(join(other, 'station.sqlite'));
      raw.pragma('user_version = 999');
      raw.close();
      const r = await runCli(['--data-dir', other, 'info']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/schema version 999.*written by a newer version/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('shows the identity', async () => {
    const r = await cli('info', '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({
      stationId: 'LIM-AIR-01',
      agencyCode: 'PER-MIGRACIONES',
    });
  });

  it('requires an authenticated supervisor to import', async () => {
    const file = manifestFile('m0.json');
    expect((await cli('stock', 'import', file)).stderr).toMatch(/--user <name> is required/);
    expect((await asUser('ana', 'stock', 'import', file)).stderr).toMatch(
      /needs the role supervisor/,
    );
    process.env.STATION_PIN = 'wrong-pin';
    const bad = await cli('stock', 'import', file, '--user', 'sam');
    delete process.env.STATION_PIN;
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown user or wrong PIN/);
  });

  it('imports, allocates, marks, reconciles and reports gaps', async () => {
    const imp = await asUser('sam', 'stock', 'import', manifestFile('m1.json'), '--json');
    expect(imp.code, imp.stderr).toBe(0);
    expect(JSON.parse(imp.stdout)).toMatchObject({ batchId: 'CLI-B1', booklets: 20 });

    const other = await asUser(
      'sam',
      'stock',
      'import',
      manifestFile('m2.json', { batchId: 'CLI-B2', agency: 'PER-RREE' }),
    );
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/manifest refused \(wrong_agency\).*PER-RREE/);
    const audit = JSON.parse((await cli('audit', 'list', '--json')).stdout) as {
      action: string;
      details: { reason?: string };
    }[];
    expect(audit.at(-1)).toMatchObject({
      action: 'stock.import_refused',
      details: { reason: 'wrong_agency' },
    });
    const noBooklets = await cli('stock', 'list', '--batch', 'CLI-B2', '--json');
    expect(JSON.parse(noBooklets.stdout)).toEqual([]);

    const alloc = await asUser(
      'sam',
      'stock',
      'allocate',
      '--batch',
      'CLI-B1',
      '--serials',
      'PE0000001-PE0000010',
      '--json',
    );
    expect(alloc.code, alloc.stderr).toBe(0);
    expect(JSON.parse(alloc.stdout).allocated).toHaveLength(10);

    const mark = await asUser(
      'sam',
      'stock',
      'mark',
      'lost_stolen',
      '--serials',
      'PE0000020',
      '--reason',
      'not found at count',
    );
    expect(mark.code, mark.stderr).toBe(0);
    const show = await cli('stock', 'show', 'PE0000020', '--json');
    expect(JSON.parse(show.stdout)).toMatchObject({ state: 'lost_stolen' });
    expect(JSON.parse(show.stdout).history).toHaveLength(2);

    const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Lima' }).format(new Date());
    const rec = await cli('report', 'reconcile', '--date', day, '--json');
    expect(rec.code, rec.stdout).toBe(0);
    const r = JSON.parse(rec.stdout);
    expect(r.balanced).toBe(true);
    expect(r.stations[0]).toMatchObject({
      stationId: 'LIM-AIR-01',
      opening: 0,
      received: 20,
      lost: 1,
      closing: 19,
    });
    const text = await cli('report', 'reconcile', '--date', day);
    expect(text.stdout).toMatch(/BALANCED/);

    const gaps = await cli('report', 'gaps', '--json');
    expect(JSON.parse(gaps.stdout)[0].runs[0]).toMatchObject({ present: 20, missing: 0 });
  });

  it('verifies the audit log and names a tampered entry', async () => {
    const ok = await cli('audit', 'verify', '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).ok).toBe(true);
    const raw = new Database(join(dir, 'station.sqlite'));
    raw.exec('DROP TRIGGER audit_log_no_update');
    raw.prepare("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3").run();
    raw.close();
    const bad = await cli('audit', 'verify');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/entry #3 .* was edited/);
    expect(bad.stdout).toMatch(/audit_log_no_update .* was removed/);

    // Remove one entry and swap two others: each is named.
    const raw2 = new Database(join(dir, 'station.sqlite'));
    raw2.exec(`DROP TRIGGER audit_log_no_delete;
      DELETE FROM audit_log WHERE seq = 5;
      UPDATE audit_log SET seq = -7 WHERE seq = 7;
      UPDATE audit_log SET seq = 7 WHERE seq = 8;
      UPDATE audit_log SET seq = 8 WHERE seq = -7;`);
    raw2.close();
    const worse = await cli('audit', 'verify', '--json');
    expect(worse.code).toBe(1);
    const doc = JSON.parse(worse.stdout) as {
      ok: boolean;
      problems: { kind: string; seq: number; message: string }[];
    };
    expect(doc.ok).toBe(false);
    const named = (kind: string): number[] =>
      doc.problems.filter((p) => p.kind === kind).map((p) => p.seq);
    expect(named('edited')).toContain(3);
    expect(named('removed')).toEqual([5]);
    expect(named('reordered')).toEqual(expect.arrayContaining([7, 8]));
    const text = await cli('audit', 'verify');
    expect(text.stdout).toMatch(/entry #5 was removed/);
    expect(text.stdout).toMatch(/entry #7 is out of order/);
  });

  it('backs the database up online and reports its status', async () => {
    const target = join(dir, 'backups', 'b1.sqlite');
    const b = await asUser('sam', 'db', 'backup', target, '--json');
    expect(b.code, b.stderr).toBe(0);
    expect(existsSync(target)).toBe(true);
    const s = await cli('db', 'status', '--json');
    expect(JSON.parse(s.stdout)).toMatchObject({ exists: true, pending: [], journalMode: 'wal' });
    expect((await asUser('sam', 'db', 'backup', target)).stderr).toMatch(/exists already/);

    // A backup that cannot be written says so, leaves nothing behind, and the audit log says
    // it failed (not only that it was started).
    const blocked = join(dir, 'signer.pem', 'b2.sqlite'); // under a file, not a directory
    const f = await asUser('sam', 'db', 'backup', blocked);
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(/backup to .*b2\.sqlite failed \(.*\); no backup was made/);
    expect(existsSync(blocked)).toBe(false);
    const log = JSON.parse((await cli('audit', 'list', '--json')).stdout) as {
      action: string;
      actor: string;
      details: { file?: string };
    }[];
    expect(log.slice(-2).map((e) => [e.action, e.actor, e.details.file])).toEqual([
      ['db.backup', 'sam', blocked],
      ['db.backup_failed', 'sam', blocked],
    ]);
  });
});
