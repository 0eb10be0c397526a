import { defaultHopper } from '../hopper.ts';
import type { Scenario } from '../scenario.ts';

export const scenario: Scenario = {
  name: 'default',
  description:
    '20 booklets of our agency, both chip families, with one misprinted serial, one dead chip, one unreadable serial and one already-locked chip',
  hopper: () => defaultHopper(20),
};
