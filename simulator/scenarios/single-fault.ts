import { createHash } from 'node:crypto';
import { devTransportMaster, makeBooklet, SIM_AGENCY, type Booklet } from '../hopper.ts';
import type { Scenario } from '../scenario.ts';
import { OUR_PROFILE, seedFor, type LedgerEntry } from '../seed.ts';

/**
 * One booklet per intake check that fails that check and would pass every other one: ours,
 * allocated here, production stock, an accepted profile, genuine transport keys, except for its
 * one fault. Take away any single check and its booklet is accepted (or intake stops on an
 * error): test/intake-no-override.test.ts runs it through the library, `station intake` and
 * the `station start` console.
 *
 * One verdict needs a ledger change the seed contract cannot express: the profile
 * `WITHDRAWN_PROFILE` is withdrawn by an administrator after seeding (the stock import refuses
 * a profile that is not accepted). Seeded without that step, its booklet is accepted.
 */
export const WITHDRAWN_PROFILE = 'PER-MIG-EMRTD-V2';
/** Accepted by the station, but not the profile of the manifest that lists the booklet. */
const OTHER_ACCEPTED_PROFILE = 'PER-MIG-EMRTD-V3A';

const b = (n: number, extra: Partial<Parameters<typeof makeBooklet>[0]> = {}): Booklet =>
  makeBooklet({
    serial: `PA${String(300000 + n).padStart(7, '0')}`,
    batch: 'MIG-2026-12',
    profileId: OUR_PROFILE,
    ...extra,
  });

export interface OneFault {
  entry: LedgerEntry;
  decision: string;
  /** The one check this booklet fails. */
  check: string;
}

export function singleFaultEach(): OneFault[] {
  return [
    { entry: { booklet: b(1) }, decision: 'accepted', check: 'none (control)' },
    {
      entry: { booklet: b(2, { faults: ['unreadable-serial'] }) },
      decision: 'SERIAL_UNREADABLE',
      check: 'the printed serial is read',
    },
    {
      entry: { booklet: b(3, { faults: ['no-chip'] }) },
      decision: 'NO_CHIP',
      check: 'a chip answers',
    },
    {
      entry: { booklet: b(4, { faults: ['dead-chip'] }) },
      decision: 'CHIP_UNRESPONSIVE',
      check: 'the chip responds',
    },
    {
      entry: { booklet: b(5, { faults: ['corrupt-record'] }) },
      decision: 'CHIP_RECORD_INVALID',
      check: 'the pre-personalization record is well formed',
    },
    {
      // Printed PA0300006, in our manifest and allocated here; the chip's record names another
      // booklet serial, everything else in it (chip serial, agency, profile, keys) is right.
      entry: { booklet: { ...b(6), prePerso: { bookletSerial: 'PA0300096' } } },
      decision: 'PRINTED_AND_CHIP_SERIAL_DIFFER',
      check: 'printed serial = chip record serial',
    },
    {
      // Our booklet and our keys; only the record claims another agency.
      entry: { booklet: { ...b(7), prePerso: { agency: 'PER-RREE' } } },
      decision: 'FOREIGN_AGENCY',
      check: 'the chip record names our agency',
    },
    {
      entry: { booklet: b(8), inManifest: false },
      decision: 'UNKNOWN_SERIAL',
      check: 'the serial is in a manifest of ours',
    },
    {
      entry: { booklet: b(9), manifestChipSerial: 'C000000009' },
      decision: 'CHIP_UID_MISMATCH',
      check: "manifest chip serial = the chip's",
    },
    {
      entry: { booklet: b(10), manifestChipUid: '04AABBCCDDEEFF' },
      decision: 'CHIP_UID_MISMATCH',
      check: "manifest chip UID = the chip's",
    },
    {
      entry: { booklet: b(11), lostOrStolen: true },
      decision: 'REPORTED_LOST_OR_STOLEN',
      check: 'not reported lost or stolen',
    },
    {
      entry: { booklet: b(12), allocation: 'elsewhere' },
      decision: 'NOT_ALLOCATED_TO_THIS_STATION',
      check: 'allocated to this station (not another)',
    },
    {
      entry: { booklet: b(13), allocation: 'none' },
      decision: 'NOT_ALLOCATED_TO_THIS_STATION',
      check: 'allocated at all',
    },
    {
      entry: { booklet: b(14), stockClass: 'test' },
      decision: 'NOT_AVAILABLE',
      check: "the stock class is the job's",
    },
    {
      // Booklet PA0300005 again, its chip sound this time: it was refused above, and a refused
      // booklet is never taken again.
      entry: { booklet: b(5), inManifest: false },
      decision: 'NOT_AVAILABLE',
      check: 'the ledger state allows use (refused earlier)',
    },
    {
      entry: { booklet: b(16, { profileId: WITHDRAWN_PROFILE }) },
      decision: 'PROFILE_NOT_ACCEPTED',
      check: 'the chip profile is accepted (withdrawn after seeding)',
    },
    {
      entry: {
        booklet: b(17, { profileId: OTHER_ACCEPTED_PROFILE }),
        manifestProfile: OUR_PROFILE,
      },
      decision: 'PROFILE_NOT_ACCEPTED',
      check: "the chip profile is the manifest's",
    },
    {
      // Keys of version 2, which the station holds, but the profile says version 1.
      entry: { booklet: b(18, { keyVersion: 2 }) },
      decision: 'PROFILE_NOT_ACCEPTED',
      check: "the record's key version is the profile's",
    },
    {
      entry: { booklet: b(19, { faults: ['locked'] }) },
      decision: 'CHIP_ALREADY_PERSONALIZED',
      check: 'the chip is pre-personalized, not locked',
    },
    {
      entry: { booklet: b(20, { keyVersion: 3, profileId: 'PER-MIG-EMRTD-V5' }) },
      decision: 'TRANSPORT_KEY_UNAVAILABLE',
      check: 'the station holds the transport key',
    },
    {
      entry: {
        booklet: b(21, { master: createHash('sha256').update('forged').digest().subarray(0, 16) }),
      },
      decision: 'TRANSPORT_AUTH_FAILED',
      check: 'SCP03 transport authentication',
    },
    { entry: { booklet: b(22) }, decision: 'accepted', check: 'none (control)' },
  ];
}

export const scenario: Scenario = {
  name: 'single-fault',
  description:
    'one booklet per intake check, failing only that check (needs profile PER-MIG-EMRTD-V2 withdrawn after seeding)',
  profile: 'zero-latency',
  hopper: () => ({ version: 1, booklets: singleFaultEach().map((e) => e.entry.booklet) }),
  seed: () => {
    const seed = seedFor(singleFaultEach().map((e) => e.entry));
    // A profile the station accepts that no manifest uses, and transport keys of version 2
    // (version 3 stays missing).
    seed.profiles.push({
      agencyCode: SIM_AGENCY,
      profileId: OTHER_ACCEPTED_PROFILE,
      chipOs: 'ePassOS 4.2',
      appletVersion: '3.1.0',
      keyVersion: 1,
    });
    seed.transportMasters.push({
      agency: SIM_AGENCY,
      keyVersion: 2,
      keyHex: devTransportMaster(SIM_AGENCY, 2).toString('hex'),
    });
    return seed;
  },
  expected: () =>
    singleFaultEach().map((e) => ({
      printedSerial: e.entry.booklet.printedSerial,
      decision: e.decision,
    })),
};
