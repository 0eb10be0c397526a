import { makeBooklet, type ChipProfileName } from '../hopper.ts';
import type { Scenario } from '../scenario.ts';

const profiles: ChipProfileName[] = ['emrtd-ext-96k', 'emrtd-short-64k', 'emrtd-strict-64k'];

export const scenario: Scenario = {
  name: 'all-good',
  description: '12 faultless booklets of our agency, all three chip profiles',
  hopper: () => ({
    version: 1,
    booklets: Array.from({ length: 12 }, (_, i) =>
      makeBooklet({ serial: `PA${2000001 + i}`, chipProfile: profiles[i % profiles.length]! }),
    ),
  }),
};
