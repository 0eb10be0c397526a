/**
 * The station's application data key (station/keys/data-key.ts) as the use cases need it:
 * opened from the configured custody, created by an admin (audited).
 */
import type { Db } from '../../db/open.ts';
import { writeAudit } from '../audit.ts';
import {
  createDataKey,
  openDataKey,
  type ApplicationDataKey,
  type DataKeyInfo,
} from '../keys/data-key.ts';
import { KeyCustodyError } from '../keys/errors.ts';
import { readKeyCustodyConfig, type OpenCustodyOptions } from '../keys/open.ts';
import { requireRole, type Actor } from '../users.ts';

function configOf(dataDir: string) {
  const config = readKeyCustodyConfig(dataDir);
  if (!config)
    throw new KeyCustodyError(
      'CONFIG_INVALID',
      `no key custody is configured in ${dataDir}: run "station keys configure" first`,
    );
  return config;
}

/** Opens the data key of the station in `dataDir`; KeyCustodyError('DATA_KEY_MISSING') says
 * how to create one when there is none. */
export function openStationDataKey(
  dataDir: string,
  options: OpenCustodyOptions = {},
): Promise<ApplicationDataKey> {
  return openDataKey(configOf(dataDir), dataDir, options);
}

/** An admin creates the station's data key in its configured custody (once; audited). */
export async function createStationDataKey(
  db: Db,
  actor: Actor,
  dataDir: string,
  options: OpenCustodyOptions & { scryptN?: number } = {},
): Promise<DataKeyInfo> {
  requireRole(actor, ['admin'], 'create the application data key');
  const info = await createDataKey(configOf(dataDir), dataDir, options);
  writeAudit(db, {
    actor,
    action: 'keys.data_key_created',
    details: { kind: info.kind, label: info.label, where: info.where },
  });
  return info;
}
