import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { resolveDataDir } from '../station/data-dir.ts';
import { runCli } from '../test/helpers/cli.ts';

describe('station CLI', () => {
  it('runs as a bin entry with --help', () => {
    const help = execFileSync(process.execPath, ['bin/station.mjs', '--help'], {
      encoding: 'utf8',
    });
    expect(help).toContain('--data-dir');
  });

  it('resolves --data-dir before STATION_DATA_DIR before the OS default', async () => {
    const r = await runCli(['--data-dir', '/tmp/somewhere', 'paths', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ dataDir: '/tmp/somewhere' });
    expect(resolveDataDir(undefined, { STATION_DATA_DIR: '/x' })).toBe('/x');
    expect(resolveDataDir(undefined, {}, 'linux', '/home/a')).toBe(
      '/home/a/.local/share/perso-station',
    );
    expect(resolveDataDir(undefined, { XDG_DATA_HOME: '/d' }, 'linux', '/home/a')).toBe(
      '/d/perso-station',
    );
    expect(resolveDataDir(undefined, {}, 'darwin', '/Users/a')).toBe(
      '/Users/a/Library/Application Support/Perso Station',
    );
    expect(
      resolveDataDir(undefined, { APPDATA: 'C:\\U\\AppData\\Roaming' }, 'win32', 'C:\\U'),
    ).toContain('Perso Station');
  });

  it('fails with a non-zero code on an unknown command', async () => {
    const r = await runCli(['no-such-command']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown command/);
  });
});
