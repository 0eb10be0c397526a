import Database from 'better-sqlite3';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEntryHash } from '../station/audit.ts';
import { signManifest, type ManifestBody } from '../station/manifest.ts';
import { forgetAuditKeys } from '../station/keys/audit-key.ts';
import { PROTECTING_TRIGGERS_V3 } from '../db/migrations.ts';
import { runCli } from './helpers/cli.ts';
import { createSoftHsmToken, type SoftHsmToken } from './helpers/softhsm.ts';

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

let token: SoftHsmToken;
const TOKEN_PIN_ENV = 'LEDGER_CLI_TOKEN_PIN';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ledger-cli-'));
  // Key custody comes first, as on a production station: a PKCS#11 token, where `station init`
  // generates the station audit key that signs every audit entry.
  token = createSoftHsmToken('ledger-cli');
  process.env[TOKEN_PIN_ENV] = token.userPin;
  const configured = await cli(
    'keys',
    'configure',
    '--pkcs11-module',
    token.module,
    '--token',
    token.label,
    '--pin-env',
    TOKEN_PIN_ENV,
  );
  expect(configured.code, configured.stderr).toBe(0);
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
  expect(JSON.parse(init.stdout).auditKeyId).toMatch(/^[0-9a-f]{64}$/);
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
afterAll(() => {
  forgetAuditKeys();
  delete process.env[TOKEN_PIN_ENV];
  rmSync(dir, { recursive: true, force: true });
  token?.cleanup();
});

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
    // The central office key is bound to our agency: it cannot vouch for another agency's batch.
    expect(other.stderr).toMatch(
      /manifest refused \(key_not_authorized\): key [0-9a-f]{64} \(central office\) may sign manifests of agency PER-MIGRACIONES only; batch CLI-B2 is for agency PER-RREE/,
    );
    const audit = JSON.parse((await cli('audit', 'list', '--json')).stdout) as {
      action: string;
      details: { reason?: string };
    }[];
    expect(audit.at(-1)).toMatchObject({
      action: 'stock.import_refused',
      details: { reason: 'key_not_authorized' },
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

  it('audit verify names the three attacks of an attacker holding the database file', async () => {
    const file = join(dir, 'station.sqlite');
    const copy = join(dir, 'untouched.sqlite');
    const raw0 = new Database(file);
    raw0.exec(`VACUUM INTO '${copy}'`);
    raw0.close();
    // A new process: the audit key and the anchor come from the token, not the database.
    forgetAuditKeys();
    const clean = await cli('audit', 'verify');
    expect(clean.code, clean.stdout).toBe(0);
    expect(clean.stdout).toMatch(/^audit log intact: \d+ entries, signed; anchored at entry #\d+$/);
    const attack = async (sql: (raw: Database.Database) => void): Promise<string> => {
      copyFileSync(copy, file);
      rmSync(`${file}-wal`, { force: true });
      rmSync(`${file}-shm`, { force: true });
      const raw = new Database(file);
      try {
        sql(raw);
      } finally {
        raw.close();
      }
      forgetAuditKeys();
      const r = await cli('audit', 'verify');
      expect(r.code).toBe(1);
      return r.stdout;
    };
    const headOf = (raw: Database.Database) =>
      raw.prepare('SELECT seq, hash FROM audit_head').get() as { seq: number; hash: string };

    // (a) a forged entry appended, the head moved one step as the trigger allows.
    const forged = await attack((raw) => {
      const head = headOf(raw);
      const e = {
        seq: head.seq + 1,
        at: '2026-05-02T10:00:00.000Z',
        actor: 'sam',
        stationId: 'LIM-AIR-01',
        action: 'stock.marked_voided',
        details: '{}',
        prevHash: head.hash,
      };
      const hash = auditEntryHash(e);
      raw
        .prepare('INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)')
        .run(e.seq, e.at, e.actor, e.stationId, e.action, e.details, e.prevHash, hash);
      raw.prepare('UPDATE audit_head SET seq = ?, hash = ?').run(e.seq, hash);
    });
    expect(forged).toMatch(
      /^ {2}entry #\d+ \(stock.marked_voided by sam at 2026-05-02T10:00:00.000Z\) is not signed by the station audit key/m,
    );

    // (b) the protecting triggers replaced by do-nothing triggers of the same names.
    const replaced = await attack((raw) => {
      for (const t of PROTECTING_TRIGGERS_V3.filter((t) => t.table.startsWith('audit')))
        raw.exec(
          `DROP TRIGGER ${t.name}; CREATE TRIGGER ${t.name} BEFORE UPDATE ON ${t.table} BEGIN SELECT 1; END`,
        );
    });
    for (const name of [
      'audit_log_no_update',
      'audit_log_no_delete',
      'audit_head_no_delete',
      'audit_head_forward_only',
    ])
      expect(replaced).toContain(`the trigger ${name} that protects`);
    expect(replaced).toMatch(/audit_log_no_delete that protects audit_log was altered/);

    // (c) the last entries deleted and the head moved back, the triggers put back as they were.
    const cut = await attack((raw) => {
      const head = headOf(raw);
      raw.exec('DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_head_forward_only');
      raw.prepare('DELETE FROM audit_log WHERE seq > ?').run(head.seq - 3);
      const back = raw
        .prepare('SELECT hash FROM audit_log WHERE seq = ?')
        .pluck()
        .get(head.seq - 3);
      raw.prepare('UPDATE audit_head SET seq = ?, hash = ?').run(head.seq - 3, back);
      for (const t of PROTECTING_TRIGGERS_V3)
        if (!raw.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(t.name)) raw.exec(t.sql);
    });
    expect(cut).toMatch(
      /^audit log TAMPERED: 1 problem\(s\) in \d+ entries\n {2}the chain was truncated: the anchor says entry #(\d+) exists, the database ends at #\d+$/,
    );

    copyFileSync(copy, file);
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    forgetAuditKeys();
    expect((await cli('audit', 'verify')).code).toBe(0);
  });

  it('refuses audit verify without the key custody secret, naming it', async () => {
    forgetAuditKeys();
    delete process.env[TOKEN_PIN_ENV];
    try {
      const r = await cli('audit', 'verify');
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(
        `the signatures and the anchor were not checked: the PIN of token 'ledger-cli' is missing: set the environment variable ${TOKEN_PIN_ENV}`,
      );
    } finally {
      process.env[TOKEN_PIN_ENV] = token.userPin;
    }
    const pub = await cli('audit', 'public-key');
    expect(pub.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----/);
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
