/**
 * Identifiers every eMRTD chip of ours answers to, shared by the station (intake) and the
 * simulated chip: the eMRTD application, and the life-cycle data object (docs/chip.md).
 */

/** The eMRTD application identifier (ICAO 9303-10). */
export const EMRTD_AID = Buffer.from('A0000002471001', 'hex');

/** GET DATA / PUT DATA P1-P2 of the chip's life-cycle state. */
export const LIFE_CYCLE_TAG = 0x00de;

/** Life-cycle byte values: pre-personalized, personalization begun, locked for good. */
export const ChipLifeCycle = {
  PRE_PERSONALIZED: 0x03,
  PERSONALIZING: 0x07,
  LOCKED: 0x0f,
} as const;
