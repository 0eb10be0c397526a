/**
 * The central office a development station starts beside itself for the demo
 * (`station start --dev --with-central [dir]`, station/sync/local-central.ts decides the rest):
 * central/start.ts in this process, on embedded PGlite in its own data directory (DATABASE_URL
 * is not used), on a loopback port. Its enrolment code is issued through its admin API with the
 * admin token from that directory, as a central-office admin would.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { adminCall } from '../central/admin-client.ts';
import { ADMIN_TOKEN_FILE, CENTRAL_KEY_FILE, keyFromPrivatePem } from '../central/secrets.ts';
import { startCentral } from '../central/start.ts';
import type { LocalCentralOffice } from '../station/sync/local-central.ts';

/** Where the local office keeps its data unless told: inside the station's data directory. */
export const LOCAL_CENTRAL_DIR = 'dev-central';

/** The directory `--with-central [dir]` names: `dir`, or `dev-central` in the station's. */
export function localCentralDir(option: string | boolean, stationDataDir: string): string {
  return typeof option === 'string' ? resolve(option) : join(stationDataDir, LOCAL_CENTRAL_DIR);
}

export function localCentralOffice(dataDir: string): LocalCentralOffice {
  const tokenFile = join(dataDir, ADMIN_TOKEN_FILE);
  return {
    dataDir,
    adminTokenFile: tokenFile,
    existingKeyPem() {
      const file = join(dataDir, CENTRAL_KEY_FILE);
      return existsSync(file)
        ? keyFromPrivatePem(readFileSync(file, 'utf8')).publicKeyPem
        : undefined;
    },
    async start(port) {
      const c = await startCentral({ dataDir, port, host: '127.0.0.1' });
      return {
        url: c.url,
        backend: c.backend,
        async issueEnrolCode(stationId) {
          const token = readFileSync(tokenFile, 'utf8').trim();
          const r = (await adminCall(c.url, token, 'POST', '/admin/enrol-codes', {
            stationId,
          })) as { code: string };
          return r.code;
        },
        close: () => c.close(),
      };
    },
  };
}
