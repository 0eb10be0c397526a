/**
 * The databases the sync tests run the central office on: embedded PGlite (no DATABASE_URL)
 * and a throwaway PostgreSQL cluster (test/helpers/postgres.ts, started on first use).
 */
import { startTestPostgres, type TestPostgres } from './helpers/postgres.ts';

export interface Backend {
  /** The DATABASE_URL to give the central office; undefined for PGlite. */
  url(): Promise<string | undefined>;
  close(): Promise<void>;
}

function postgres(): Backend {
  let pg: TestPostgres | undefined;
  return {
    url: async () => {
      pg ??= await startTestPostgres();
      return pg.url;
    },
    close: async () => {
      await pg?.stop();
      pg = undefined;
    },
  };
}

export function backends(): [string, Backend][] {
  return [
    ['PGlite', { url: () => Promise.resolve(undefined), close: () => Promise.resolve() }],
    ['PostgreSQL', postgres()],
  ];
}
