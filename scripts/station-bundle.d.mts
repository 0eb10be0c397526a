// Types of scripts/station-bundle.mjs (plain JavaScript: it runs before any TypeScript can).
export declare const EXTERNAL: string[];
export interface BundleOptions {
  /** The checkout. */
  root: string;
  /** The TypeScript entry. */
  entry: string;
  /** The bundle (an ES module); its stamp is `${out}.json`. */
  out: string;
}
export declare function bundleStale(
  opts: BundleOptions & { esbuildVersion: string },
): string | undefined;
export declare function ensureBundle(
  opts: BundleOptions & { note?: (line: string) => void },
): Promise<{ built: boolean; reason?: string; ms: number }>;
