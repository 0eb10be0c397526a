/**
 * What a border inspection system uses on the simulated chip: Basic Access Control with the key
 * seed personalization PUT (0062), then Doc 9303 secure messaging (mrtd/secure-messaging.ts,
 * chip side) on every command. GET CHALLENGE (`00 84`) starts it, EXTERNAL AUTHENTICATE
 * (`00 82`) completes it; commands with CLA `0C` are then unwrapped and their answers protected.
 * A failed check ends the session (Part 11): the next command needs a new BAC.
 */
import {
  type ApduResponse,
  type DecodedApdu,
  decodeResponse,
  encodeApdu,
} from '../iso7816/apdu.ts';
import { BacChip, BacError, bacKeysFromSeed } from '../mrtd/bac.ts';
import { SecureMessagingError, SmChip } from '../mrtd/secure-messaging.ts';
import type { SecureChannelHandler, SimChip } from './chip.ts';

const BAC_KEY_SEED = 0x0062;

const fail = (sw: number): { response: ApduResponse } => ({
  response: { data: Buffer.alloc(0), sw },
});

export class BacAccessControl implements SecureChannelHandler {
  private pending: BacChip | undefined;
  private sm: SmChip | undefined;

  /** A BAC secure messaging session is open. */
  get active(): boolean {
    return this.sm !== undefined;
  }

  /** BAC's own commands, and every command in ISO secure messaging (CLA `0C`, not a GP class). */
  claims(apdu: DecodedApdu): boolean {
    if (apdu.cla === 0 && (apdu.ins === 0x84 || apdu.ins === 0x82)) return true;
    return (apdu.cla & 0x80) === 0 && (apdu.cla & 0x0c) === 0x0c;
  }

  intercept(apdu: DecodedApdu, chip: SimChip): { response: ApduResponse } | { apdu: DecodedApdu } {
    if (apdu.cla === 0 && apdu.ins === 0x84) {
      this.reset();
      const seed = chip.putData.get(BAC_KEY_SEED);
      if (seed?.length !== 16) return fail(0x6985); // no usable K_seed
      if (apdu.le !== 8 || apdu.data.length) return fail(0x6700);
      this.pending = new BacChip(bacKeysFromSeed(seed));
      return { response: { data: Buffer.from(this.pending.rndIcc), sw: 0x9000 } };
    }
    if (apdu.cla === 0 && apdu.ins === 0x82) {
      const bac = this.pending;
      this.reset();
      if (!bac) return fail(0x6985);
      if (apdu.data.length !== 40) return fail(0x6700);
      try {
        const { response, session } = bac.externalAuthenticate(apdu.data);
        this.sm = new SmChip(session);
        return { response: { data: response, sw: 0x9000 } };
      } catch (e) {
        if (e instanceof BacError) return fail(0x6300); // authentication failed
        throw e;
      }
    }
    if (!this.sm) return fail(0x6982);
    try {
      return { apdu: this.sm.unwrapCommand(encodeApdu(apdu, apdu.extended)) };
    } catch (e) {
      if (e instanceof SecureMessagingError) {
        this.reset();
        return fail(e.sw);
      }
      throw e;
    }
  }

  wrapResponse(res: ApduResponse): ApduResponse {
    if (!this.sm) return res;
    return decodeResponse(this.sm.wrapResponse(res.data, res.sw));
  }

  reset(): void {
    this.pending = undefined;
    this.sm = undefined;
  }
}
