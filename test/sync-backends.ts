/**
 * The databases the sync tests run the central office on: embedded PGlite (no DATABASE_URL)
 * and a throwaway PostgreSQL cluster (test/helpers/postgres.ts).
 */
export interface Backend {
  /** The DATABASE_URL to give the central office; undefined for PGlite. */
  url(): Promise<string | undefined>;
  close(): Promise<void>;
}

export function backends(): [string, Backend][] {
  return [['PGlite', { url: () => Promise.resolve(undefined), close: () => Promise.resolve() }]];
}
