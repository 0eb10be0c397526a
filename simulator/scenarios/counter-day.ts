import { devTransportMaster, makeBooklet, type Booklet } from '../hopper.ts';
import type { Scenario } from '../scenario.ts';
import { OUR_PROFILE, seedFor } from '../seed.ts';
import { applications } from './personalize.ts';

/**
 * A day at the counter, for the desktop app's demo and its UI tests: approved applications in
 * the queue, our blank booklets in the hopper, and one booklet of the Foreign Ministry's among
 * them (second in the hopper) that intake refuses as a foreign agency's.
 */
const ours = (n: number): Booklet =>
  makeBooklet({
    serial: `PA${3000000 + n}`,
    batch: 'MIG-COUNTER-01',
    profileId: OUR_PROFILE,
    chipProfile: 'emrtd-ext-96k',
  });

const foreign = makeBooklet({
  serial: 'PR0500001',
  agency: 'PER-RREE',
  batch: 'RREE-2021-11',
  profileId: 'PER-RREE-EMRTD-V2',
  chipProfile: 'emrtd-short-64k',
  master: devTransportMaster('PER-RREE', 1),
});

const hopper = (): Booklet[] => [
  ours(1),
  foreign,
  ...Array.from({ length: 10 }, (_, i) => ours(i + 2)),
];

export const scenario: Scenario = {
  name: 'counter-day',
  description:
    "approved applications, our booklets and one of the Foreign Ministry's (refused at intake)",
  profile: 'zero-latency',
  hopper: () => ({ version: 1, booklets: hopper() }),
  seed: () => ({
    ...seedFor(hopper().map((booklet) => ({ booklet }))),
    applications: applications(12),
  }),
};
