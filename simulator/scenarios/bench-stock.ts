import { makeBooklet, type Booklet } from '../hopper.ts';
import type { Scenario } from '../scenario.ts';
import { OUR_PROFILE, seedFor } from '../seed.ts';

/** Booklets in the bench hopper (bench/intake.ts). */
export const BENCH_STOCK_SIZE = 300;

/** Good booklets of ours only, of all three chip families, for the intake benchmark. */
function booklets(): Booklet[] {
  const families = ['emrtd-ext-96k', 'emrtd-short-64k', 'emrtd-strict-64k'] as const;
  return Array.from({ length: BENCH_STOCK_SIZE }, (_, i) =>
    makeBooklet({
      serial: `PA${String(900001 + i).padStart(7, '0')}`,
      batch: 'MIG-BENCH-01',
      profileId: OUR_PROFILE,
      chipProfile: families[i % families.length]!,
    }),
  );
}

export const scenario: Scenario = {
  name: 'bench-stock',
  description: `${BENCH_STOCK_SIZE} good booklets of ours, delivered and allocated here (intake benchmark)`,
  profile: 'zero-latency',
  hopper: () => ({ version: 1, booklets: booklets() }),
  seed: () => seedFor(booklets().map((booklet) => ({ booklet }))),
  expected: () => booklets().map((b) => ({ printedSerial: b.printedSerial, decision: 'accepted' })),
};
