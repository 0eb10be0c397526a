/**
 * Why intake refuses a booklet. The order here is the order of the checks: intake stops at the
 * first failure. Each code has an operator message and instruction in every station language
 * (see messages.ts).
 */
export const REFUSAL_REASONS = [
  'SERIAL_UNREADABLE',
  'NO_CHIP',
  'CHIP_UNRESPONSIVE',
  'CHIP_RECORD_INVALID',
  'PRINTED_AND_CHIP_SERIAL_DIFFER',
  'FOREIGN_AGENCY',
  'UNKNOWN_SERIAL',
  'CHIP_UID_MISMATCH',
  'REPORTED_LOST_OR_STOLEN',
  'NOT_ALLOCATED_TO_THIS_STATION',
  'NOT_AVAILABLE',
  'PROFILE_NOT_ACCEPTED',
  'CHIP_ALREADY_PERSONALIZED',
  'TRANSPORT_KEY_UNAVAILABLE',
  'TRANSPORT_AUTH_FAILED',
] as const;

export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export function isRefusalReason(s: string): s is RefusalReason {
  return (REFUSAL_REASONS as readonly string[]).includes(s);
}
