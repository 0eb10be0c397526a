/** A station core on the simulator in a fresh data directory, as `npm start` opens one. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { developmentDevices } from '../../cli/development-devices.ts';
import { enterDevelopmentMode, openStation } from '../../station/core/open.ts';
import type { CoreSeams, StationCore } from '../../station/core/station-core.ts';
import { acquireStationLock } from '../../station/station-lock.ts';

export async function openDevCore(
  seams: CoreSeams & { scenario?: string } = {},
): Promise<{ core: StationCore; dataDir: string; close(): Promise<void> }> {
  enterDevelopmentMode(true);
  const dataDir = join(mkdtempSync(join(tmpdir(), 'station-core-')), 'data');
  const lock = acquireStationLock(dataDir, { command: 'test' });
  const core = await openStation({
    dataDir,
    lock,
    development: developmentDevices,
    lang: 'en',
    ...seams,
  });
  return {
    core,
    dataDir,
    close: async () => {
      await core.close();
      lock.release();
      rmSync(join(dataDir, '..'), { recursive: true, force: true });
    },
  };
}
