/**
 * `--with-central [dir]` of `station start` and `station desktop`: the local central office
 * (cli/local-central.ts), imported only when asked for, so the central office's modules
 * (Fastify, PGlite, pg) stay out of the start-up of every other `station` command.
 */
import type { LocalCentralOffice } from '../station/sync/local-central.ts';

export async function localCentralFor(
  option: string | boolean,
  stationDataDir: string,
): Promise<LocalCentralOffice> {
  const { localCentralDir, localCentralOffice } = await import('./local-central.ts');
  return localCentralOffice(localCentralDir(option, stationDataDir));
}
