/**
 * The simulated chip's transport lock: GlobalPlatform SCP03 with the booklet's diversified
 * transport keys (mrtd/scp03.ts, card side). Until EXTERNAL AUTHENTICATE succeeds the chip
 * answers only SELECT, READ BINARY of the pre-personalization record and GET DATA of its life
 * cycle; every write needs the open channel. Once open, every command must carry secure
 * messaging; a plain one closes the channel.
 */
import { encodeApdu, type ApduResponse, type DecodedApdu } from '../iso7816/apdu.ts';
import { Scp03Card, Scp03Error } from '../mrtd/scp03.ts';
import type { SecureChannelHandler, SimChip } from './chip.ts';

const fail = (sw: number): { response: ApduResponse } => ({
  response: { data: Buffer.alloc(0), sw },
});

export class Scp03TransportLock implements SecureChannelHandler {
  private card: Scp03Card;
  private open = false;

  constructor(private readonly chip: SimChip) {
    this.card = this.newCard();
  }

  private newCard(): Scp03Card {
    const k = this.chip.booklet.transportKeys;
    return new Scp03Card(
      {
        enc: Buffer.from(k.enc, 'hex'),
        mac: Buffer.from(k.mac, 'hex'),
        dek: Buffer.from(k.dek, 'hex'),
      },
      {
        keyVersion: this.chip.booklet.keyVersion,
        // Key diversification data: the last 10 bytes of the UID, zero-padded (informational).
        keyDiversificationData: Buffer.concat([Buffer.alloc(10), this.chip.uid]).subarray(-10),
      },
    );
  }

  /** The channel is open: every command must carry its secure messaging. */
  get active(): boolean {
    return this.open;
  }

  intercept(apdu: DecodedApdu, chip: SimChip): { response: ApduResponse } | { apdu: DecodedApdu } {
    const raw = (): Buffer => encodeApdu(apdu);
    try {
      if ((apdu.cla & 0xfc) === 0x80 && apdu.ins === 0x50) {
        this.open = false;
        chip.authenticated = false;
        const r = this.card.initializeUpdate(raw());
        return { response: { data: r.subarray(0, -2), sw: r.readUInt16BE(r.length - 2) } };
      }
      if (apdu.cla === 0x84 && apdu.ins === 0x82) {
        this.card.externalAuthenticate(raw());
        this.open = true;
        chip.authenticated = true;
        return fail(0x9000);
      }
      if (this.open) {
        if (!(apdu.cla & 0x04)) {
          this.reset();
          return fail(0x6982);
        }
        return { apdu: this.card.unwrapCommand(raw()) };
      }
      if (apdu.cla & 0x04) return fail(0x6982);
      return { apdu };
    } catch (e) {
      if (e instanceof Scp03Error) {
        this.reset();
        return fail(e.sw);
      }
      throw e;
    }
  }

  wrapResponse(res: ApduResponse): ApduResponse {
    if (!this.open) return res;
    const r = this.card.wrapResponse(res.data, res.sw);
    return { data: r.subarray(0, -2), sw: r.readUInt16BE(r.length - 2) };
  }

  reset(): void {
    this.open = false;
    this.chip.authenticated = false;
    this.card = this.newCard();
  }
}
