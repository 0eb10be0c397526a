import { isDevelopmentMode, openTransportKeyCustody, readKeyCustodyConfig } from './open.ts';
import type { TransportKeyCustody } from './custody.ts';
import { KeyCustodyError } from './errors.ts';

/**
 * The transport-key custody configured for the station in `<dataDir>/key-custody.json`; a
 * development key file only when the station runs with STATION_MODE=development.
 */
export async function openStationCustody(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TransportKeyCustody> {
  const config = readKeyCustodyConfig(dataDir);
  if (!config)
    throw new KeyCustodyError(
      'CONFIG_INVALID',
      `no transport-key custody is configured in ${dataDir}: run "station keys configure"`,
    );
  return openTransportKeyCustody(config, { development: isDevelopmentMode(env), env });
}
