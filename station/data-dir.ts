import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensurePrivateDir } from '../db/private-files.ts';

/**
 * Where the station keeps its database and keys: --data-dir, then STATION_DATA_DIR, then the
 * operating system's per-user application data folder.
 */
export function resolveDataDir(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (explicit) return resolve(explicit);
  if (env.STATION_DATA_DIR) return resolve(env.STATION_DATA_DIR);
  switch (platform) {
    case 'win32':
      return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'Perso Station');
    case 'darwin':
      return join(home, 'Library', 'Application Support', 'Perso Station');
    default:
      return join(env.XDG_DATA_HOME ?? join(home, '.local', 'share'), 'perso-station');
  }
}

/**
 * Creates the data directory 0700 (the database, keys and configuration inside are the
 * station's alone), or checks an existing one: a looser mode is tightened with a warning if
 * this user owns it, refused otherwise (db/private-files.ts).
 */
export function preparePrivateDataDir(dataDir: string): void {
  ensurePrivateDir(dataDir, 'the data directory');
}
