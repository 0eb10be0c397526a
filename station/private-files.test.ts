/**
 * The station's private files: the data directory 0700; the database, its WAL and SHM files,
 * backups, private keys and the key-custody configuration 0600, whatever the umask, and
 * checked (tightened, with a warning) when opened.
 */
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backupDatabase, stationDbPath } from '../db/open.ts';
import { FILE_MODE_WARNING } from '../db/private-files.ts';
import { runCli } from '../test/helpers/cli.ts';
import { openStationDb } from './identity.ts';
import { createDevKeyFile } from './keys/dev-key-file.ts';
import { openTransportKeyCustody, writeKeyCustodyConfig } from './keys/open.ts';

const mode = (path: string): string => '0' + (statSync(path).mode & 0o777).toString(8);

let dir: string;
let umask: number;
const warnings: string[] = [];
const onWarning = (w: Error & { code?: string }): void => {
  if (w.code === FILE_MODE_WARNING) warnings.push(w.message);
};
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'private-files-'));
  // The usual desktop umask: files 0644 and directories 0755 unless the code says otherwise.
  umask = process.umask(0o022);
  process.on('warning', onWarning);
});
afterAll(() => {
  process.umask(umask);
  process.off('warning', onWarning);
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  warnings.length = 0;
});
const nextTick = () => new Promise<void>((r) => setImmediate(r));

describe('private files', () => {
  it('creates the data directory 0700 and the database, WAL and SHM 0600', async () => {
    const dataDir = join(dir, 'fresh', 'data');
    const db = openStationDb(dataDir);
    try {
      db.prepare('SELECT count(*) FROM users').get();
      const file = stationDbPath(dataDir);
      expect({
        dir: mode(dataDir),
        db: mode(file),
        wal: mode(`${file}-wal`),
        shm: mode(`${file}-shm`),
      }).toEqual({ dir: '0700', db: '0600', wal: '0600', shm: '0600' });
      writeKeyCustodyConfig(dataDir, { kind: 'dev-file', path: 'k.json', passphraseEnv: 'P' });
      expect(mode(join(dataDir, 'key-custody.json'))).toBe('0600');
      // A backup is private too.
      const backup = join(dir, 'fresh', 'backups', 'station-backup.sqlite');
      await backupDatabase(db, backup);
      expect(mode(backup)).toBe('0600');
      await expect(backupDatabase(db, backup)).rejects.toThrow(`${backup} exists already`);
    } finally {
      db.close();
    }
    await nextTick();
    expect(warnings).toEqual([]);
  });

  it('tightens a data directory and database left open to other users, and says so', async () => {
    const dataDir = join(dir, 'loose');
    openStationDb(dataDir).close();
    const file = stationDbPath(dataDir);
    chmodSync(dataDir, 0o755);
    chmodSync(file, 0o644);
    const db = openStationDb(dataDir);
    try {
      expect({ dir: mode(dataDir), db: mode(file), wal: mode(`${file}-wal`) }).toEqual({
        dir: '0700',
        db: '0600',
        wal: '0600',
      });
    } finally {
      db.close();
    }
    await nextTick();
    expect(warnings).toEqual([
      `the data directory ${dataDir} had mode 0755, open to other users; it is now 0700`,
      `the station database ${file} had mode 0644, open to other users; it is now 0600`,
    ]);
  });

  it('tightens a development key file left 0644 when it opens it', async () => {
    const path = join(dir, 'dev-keys.json');
    await createDevKeyFile(path, 'a passphrase', [
      { agency: 'MIG', keyVersion: 1, key: Buffer.alloc(16, 7) },
    ]);
    expect(mode(path)).toBe('0600');
    chmodSync(path, 0o644);
    const custody = await openTransportKeyCustody(
      { kind: 'dev-file', path, passphraseEnv: 'P' },
      { development: true, env: { P: 'a passphrase' } },
    );
    await custody.close();
    expect(mode(path)).toBe('0600');
    await nextTick();
    expect(warnings).toEqual([
      `the development key file ${path} had mode 0644, open to other users; it is now 0600`,
    ]);
  });

  it('pki init --force replaces a 0644 private key with a 0600 one', async () => {
    const out = join(dir, 'pki');
    expect((await runCli(['pki', 'init', '--test', '--out', out])).code).toBe(0);
    expect(mode(join(out, 'ds.key'))).toBe('0600');
    for (const f of ['csca.key', 'ds.key']) {
      writeFileSync(join(out, f), 'old');
      chmodSync(join(out, f), 0o644);
    }
    const again = await runCli(['pki', 'init', '--test', '--out', out]);
    expect(again.stderr).toContain('exists; refusing to overwrite it (use --force)');
    const forced = await runCli(['pki', 'init', '--test', '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect({ csca: mode(join(out, 'csca.key')), ds: mode(join(out, 'ds.key')) }).toEqual({
      csca: '0600',
      ds: '0600',
    });
    expect(mode(join(out, 'csca.crt'))).toBe('0644');
  });
});
