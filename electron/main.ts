/**
 * Electron's entry (bundled by scripts/build-electron.mjs into dist-electron/main.mjs): takes
 * the data directory's lock, opens the station core (in development, unpackaged only, on the
 * simulator when no device is configured) and starts the shell. Sign-in happens in the window.
 */
import { app } from 'electron';
import { join } from 'node:path';
import { resolveDataDir } from '../station/data-dir.ts';
import { enterDevelopmentMode, openStation } from '../station/core/open.ts';
import { acquireStationLock } from '../station/station-lock.ts';
import { developmentDevices } from './development-devices.ts';
import { prepareShell, startShell } from './shell.ts';

const log = (line: string): void => void process.stderr.write(`station: ${line}\n`);

async function main(): Promise<void> {
  if (!prepareShell()) return;
  const dev = !app.isPackaged && process.argv.includes('--dev');
  for (const line of enterDevelopmentMode(dev)) log(line);
  const dataDir = resolveDataDir(undefined);
  const here = __dirname;
  await startShell({
    rendererRoot: join(here, '..', 'renderer', 'dist'),
    preload: join(here, 'preload.cjs'),
    log,
    openCore: async () => {
      const lock = acquireStationLock(dataDir, { command: 'station desktop' });
      try {
        return await openStation({
          dataDir,
          lock,
          ...(developmentDevices ? { development: developmentDevices } : {}),
          note: log,
          log,
        });
      } catch (e) {
        lock.release();
        throw e;
      }
    },
  });
}

main().catch((e: unknown) => {
  log(e instanceof Error ? e.message : String(e));
  app.exit(1);
});
