import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

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
