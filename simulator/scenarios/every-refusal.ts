import { createHash } from 'node:crypto';
import { devTransportMaster, makeBooklet, type Booklet } from '../hopper.ts';
import type { Scenario } from '../scenario.ts';
import { OUR_PROFILE, seedFor, type LedgerEntry } from '../seed.ts';

/** One booklet for every refusal reason intake knows, each between two good ones. */
const b = (n: number, extra: Partial<Parameters<typeof makeBooklet>[0]> = {}): Booklet =>
  makeBooklet({
    serial: `PA${String(200000 + n).padStart(7, '0')}`,
    batch: 'MIG-2026-11',
    profileId: OUR_PROFILE,
    ...extra,
  });

function entries(): { entry: LedgerEntry; decision: string }[] {
  const wrongUid: Booklet = { ...b(10), chipUid: '04AABBCCDDEEFF' };
  wrongUid.transportKeys = b(10).transportKeys;
  return [
    { entry: { booklet: b(1) }, decision: 'accepted' },
    { entry: { booklet: b(2, { faults: ['unreadable-serial'] }) }, decision: 'SERIAL_UNREADABLE' },
    { entry: { booklet: b(3, { faults: ['no-chip'] }) }, decision: 'NO_CHIP' },
    { entry: { booklet: b(4, { faults: ['dead-chip'] }) }, decision: 'CHIP_UNRESPONSIVE' },
    { entry: { booklet: b(5, { faults: ['corrupt-record'] }) }, decision: 'CHIP_RECORD_INVALID' },
    {
      entry: { booklet: b(6, { faults: ['misprinted-serial'], printedSerial: 'PA0200906' }) },
      decision: 'PRINTED_AND_CHIP_SERIAL_DIFFER',
    },
    {
      entry: {
        booklet: b(7, {
          agency: 'PER-RREE',
          profileId: 'PER-RREE-EMRTD-V2',
          master: devTransportMaster('PER-RREE', 1),
        }),
      },
      decision: 'FOREIGN_AGENCY',
    },
    { entry: { booklet: b(8), inManifest: false }, decision: 'UNKNOWN_SERIAL' },
    { entry: { booklet: b(9), manifestChipSerial: 'C000000009' }, decision: 'CHIP_UID_MISMATCH' },
    {
      entry: { booklet: wrongUid, manifestChipUid: b(10).chipUid },
      decision: 'CHIP_UID_MISMATCH',
    },
    {
      entry: { booklet: b(11), allocation: 'elsewhere' },
      decision: 'NOT_ALLOCATED_TO_THIS_STATION',
    },
    { entry: { booklet: b(12), allocation: 'none' }, decision: 'NOT_ALLOCATED_TO_THIS_STATION' },
    { entry: { booklet: b(13), lostOrStolen: true }, decision: 'REPORTED_LOST_OR_STOLEN' },
    { entry: { booklet: b(14), stockClass: 'test' }, decision: 'NOT_AVAILABLE' },
    {
      // The chip carries an old profile our agency no longer accepts.
      entry: { booklet: b(15, { profileId: 'PER-MIG-EMRTD-V1' }), manifestProfile: OUR_PROFILE },
      decision: 'PROFILE_NOT_ACCEPTED',
    },
    { entry: { booklet: b(16, { faults: ['locked'] }) }, decision: 'CHIP_ALREADY_PERSONALIZED' },
    {
      // A newer profile under transport key version 2, which this station does not hold yet.
      entry: { booklet: b(17, { keyVersion: 2, profileId: 'PER-MIG-EMRTD-V4' }) },
      decision: 'TRANSPORT_KEY_UNAVAILABLE',
    },
    {
      entry: {
        booklet: b(18, {
          master: createHash('sha256').update('forged').digest().subarray(0, 16),
        }),
      },
      decision: 'TRANSPORT_AUTH_FAILED',
    },
    { entry: { booklet: b(19) }, decision: 'accepted' },
  ];
}

export const scenario: Scenario = {
  name: 'every-refusal',
  description: 'one booklet for every refusal reason of intake, between two good ones',
  profile: 'zero-latency',
  hopper: () => ({ version: 1, booklets: entries().map((e) => e.entry.booklet) }),
  seed: () => seedFor(entries().map((e) => e.entry)),
  expected: () =>
    entries().map((e) => ({ printedSerial: e.entry.booklet.printedSerial, decision: e.decision })),
};
