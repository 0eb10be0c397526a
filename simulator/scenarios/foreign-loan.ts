import { createHash } from 'node:crypto';
import { devTransportMaster, makeBooklet, type Booklet } from '../hopper.ts';
import type { Scenario } from '../scenario.ts';
import { OUR_PROFILE, seedFor, type LedgerEntry } from '../seed.ts';

/**
 * Lima, April 2022: the migration authority runs short of blank booklets and borrows 10,000
 * from the Foreign Ministry. The hopper mixes our own booklets with the Foreign Ministry's
 * (genuine chips coded with that agency's keys and profile), forgeries (a record claiming our
 * agency but the wrong keys), a chip swapped into another booklet, and one chip that was
 * personalized already. Intake must take ours and refuse every other one with its reason.
 */
const RREE = 'PER-RREE';
const RREE_PROFILE = 'PER-RREE-EMRTD-V2';
/** A forger's master key: whatever it is, it is not ours. */
const FORGER_MASTER = createHash('sha256').update('not the agency key').digest().subarray(0, 16);

const ours = (n: number, extra: Partial<Parameters<typeof makeBooklet>[0]> = {}): Booklet =>
  makeBooklet({
    serial: `PA${String(100000 + n).padStart(7, '0')}`,
    batch: 'MIG-2022-04',
    profileId: OUR_PROFILE,
    ...extra,
  });

const theirs = (n: number): Booklet =>
  makeBooklet({
    serial: `PR${String(500000 + n).padStart(7, '0')}`,
    agency: RREE,
    batch: 'RREE-2021-11',
    profileId: RREE_PROFILE,
    chipProfile: 'emrtd-short-64k',
    master: devTransportMaster(RREE, 1),
  });

/** Each booklet as it sits in the hopper, what the ledger says of it, and the expected verdict. */
function entries(): { entry: LedgerEntry; ledger?: LedgerEntry; decision: string }[] {
  // A chip taken out of booklet PA0100006 and glued into booklet PA0100005.
  const donor = ours(6);
  const swapped: Booklet = {
    ...ours(5),
    bookletSerial: donor.bookletSerial!,
    chipSerial: donor.chipSerial,
    chipUid: donor.chipUid,
    transportKeys: donor.transportKeys,
  };
  return [
    { entry: { booklet: ours(1) }, decision: 'accepted' },
    { entry: { booklet: theirs(1) }, decision: 'FOREIGN_AGENCY' },
    { entry: { booklet: ours(2, { chipProfile: 'emrtd-short-64k' }) }, decision: 'accepted' },
    { entry: { booklet: theirs(2) }, decision: 'FOREIGN_AGENCY' },
    {
      // A forgery of one of our serials: the record and even the UID copied, the keys not.
      entry: { booklet: ours(3, { master: FORGER_MASTER }) },
      decision: 'TRANSPORT_AUTH_FAILED',
    },
    { entry: { booklet: theirs(3) }, decision: 'FOREIGN_AGENCY' },
    {
      entry: { booklet: swapped },
      ledger: { booklet: ours(5) },
      decision: 'PRINTED_AND_CHIP_SERIAL_DIFFER',
    },
    { entry: { booklet: ours(7, { faults: ['locked'] }) }, decision: 'CHIP_ALREADY_PERSONALIZED' },
    { entry: { booklet: ours(8, { chipProfile: 'emrtd-strict-64k' }) }, decision: 'accepted' },
    { entry: { booklet: theirs(4) }, decision: 'FOREIGN_AGENCY' },
    {
      // A forgery with a serial of ours that was never delivered.
      entry: { booklet: ours(99, { master: FORGER_MASTER }), inManifest: false },
      decision: 'UNKNOWN_SERIAL',
    },
    { entry: { booklet: ours(9) }, decision: 'accepted' },
    { entry: { booklet: theirs(5) }, decision: 'FOREIGN_AGENCY' },
    { entry: { booklet: ours(10) }, decision: 'accepted' },
  ];
}

/** Every booklet of ours in the batch is in the manifest, including the donor of the swap. */
function ledger(): LedgerEntry[] {
  const list = entries().map((e) => e.ledger ?? e.entry);
  return [...list, { booklet: ours(6) }];
}

export const scenario: Scenario = {
  name: 'foreign-loan',
  description:
    "the 2022 loan: our booklets mixed with the Foreign Ministry's, forgeries, a swapped chip and a personalized one",
  profile: 'zero-latency',
  hopper: () => ({ version: 1, booklets: entries().map((e) => e.entry.booklet) }),
  seed: () => seedFor(ledger()),
  expected: () =>
    entries().map((e) => ({ printedSerial: e.entry.booklet.printedSerial, decision: e.decision })),
};
