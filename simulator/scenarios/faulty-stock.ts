import { makeBooklet } from '../hopper.ts';
import type { Scenario } from '../scenario.ts';

export const scenario: Scenario = {
  name: 'faulty-stock',
  description:
    'one booklet of each fault, then a good one: dead chip, no chip, misprinted serial, unreadable serial, locked chip',
  hopper: () => ({
    version: 1,
    booklets: [
      makeBooklet({ serial: 'PA3000001', faults: ['dead-chip'] }),
      makeBooklet({ serial: 'PA3000002', faults: ['no-chip'] }),
      makeBooklet({
        serial: 'PA3000003',
        faults: ['misprinted-serial'],
        printedSerial: 'PA3000903',
      }),
      makeBooklet({ serial: 'PA3000004', faults: ['unreadable-serial'] }),
      makeBooklet({ serial: 'PA3000005', faults: ['locked'] }),
      makeBooklet({ serial: 'PA3000006' }),
    ],
  }),
};
