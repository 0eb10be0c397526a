import type { Scenario } from '../scenario.ts';
import { personalizationStock } from './personalize.ts';

/** Booklets (and applications) for bench/personalize.ts. */
export const BENCH_PERSO_SIZE = 1100;

const stock = personalizationStock(BENCH_PERSO_SIZE, 0, 5000001);

export const scenario: Scenario = {
  name: 'bench-perso',
  description: `${BENCH_PERSO_SIZE} production booklets and applications (personalization benchmark)`,
  profile: 'zero-latency',
  hopper: () => ({ version: 1, booklets: stock.booklets }),
  seed: () => stock.seed(BENCH_PERSO_SIZE),
};
