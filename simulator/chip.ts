import { createPrivateKey, type KeyObject } from 'node:crypto';
import {
  decodeApdu,
  encodeResponse,
  type ApduResponse,
  type DecodedApdu,
} from '../iso7816/apdu.ts';
import { aaSign } from '../mrtd/active-auth.ts';
import { CHIP_PROFILES, type Booklet, type ChipProfile } from './hopper.ts';
import { decodeTlvList, tlv } from '../mrtd/tlv.ts';
import { ChipLifeCycle, EMRTD_AID, LIFE_CYCLE_TAG } from '../mrtd/chip.ts';
import { encodePrePersoRecord } from '../mrtd/preperso-record.ts';
import { Scp03TransportLock } from './transport-auth.ts';
import { BacAccessControl } from './bac-access.ts';

export { EMRTD_AID };
/** The pre-personalization record EF under the MF (docs/chip.md). */
export const PREPERSO_FID = 0x2f10;
export const MF_FID = 0x3f00;

/** PUT DATA P1-P2 values of the personalization command set (docs/chip.md). */
export const PutDataTag = {
  BAC_KEY_SEED: 0x0062,
  AA_PRIVATE_KEY: 0x0063,
  LIFECYCLE: LIFE_CYCLE_TAG,
} as const;

/** Life-cycle byte answered by GET DATA 00DE (mrtd/chip.ts, docs/chip.md). */
export const LifeCycle = ChipLifeCycle;

export interface SimChipOptions {
  /**
   * The transport lock (SCP03 with the booklet's transport keys) that gates every write. On by
   * default, as on every real pre-coded chip; off only for link-level tests and benchmarks.
   */
  transportLock?: boolean;
}

const SW = {
  OK: 0x9000,
  AUTHENTICATION_FAILED: 0x6300,
  EOF_WARNING: 0x6282,
  WRONG_LENGTH: 0x6700,
  SECURITY_NOT_SATISFIED: 0x6982,
  CONDITIONS_NOT_SATISFIED: 0x6985,
  NO_EF_SELECTED: 0x6986,
  WRONG_DATA: 0x6a80,
  FUNCTION_NOT_SUPPORTED: 0x6a81,
  FILE_NOT_FOUND: 0x6a82,
  NOT_ENOUGH_MEMORY: 0x6a84,
  WRONG_P1P2: 0x6a86,
  FILE_EXISTS: 0x6a89,
  REFERENCED_DATA_NOT_FOUND: 0x6a88,
  WRONG_OFFSET: 0x6b00,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  LAST_COMMAND_EXPECTED: 0x6883,
} as const;

/**
 * Hook for transport-key authentication and secure messaging (the SCP03 transport lock,
 * `transport-auth.ts`). `intercept` sees every command first: it may answer it itself
 * (INITIALIZE UPDATE, EXTERNAL AUTHENTICATE), or return the unwrapped command for the file
 * system; `wrapResponse` protects the answer.
 */
export interface SecureChannelHandler {
  intercept(apdu: DecodedApdu, chip: SimChip): { response: ApduResponse } | { apdu: DecodedApdu };
  wrapResponse(res: ApduResponse, chip: SimChip): ApduResponse;
  /** Called when the chip is reset (field off, new selection of the application). */
  reset(): void;
  /** Whether its channel is open: then it sees every command, BAC's included. */
  readonly active?: boolean;
}

interface Ef {
  fid: number;
  data: Buffer;
}

interface Df {
  name: 'MF' | 'eMRTD';
  files: Map<number, Ef>;
}

/** A simulated contactless chip: an ISO 7816-4 file system with the eMRTD application. */
export class SimChip {
  readonly profile: ChipProfile;
  readonly uid: Buffer;
  locked: boolean;
  dead: boolean;
  /** Set by a secure channel handler once the transport keys are proven. */
  authenticated = false;
  /** When true (the transport lock), writes need `authenticated`. */
  writesRequireAuth: boolean;
  secureChannel: SecureChannelHandler | undefined;
  /** BAC and its secure messaging, for border readers (bac-access.ts). */
  readonly bac = new BacAccessControl();
  readonly putData = new Map<number, Buffer>();
  private readonly mf: Df = { name: 'MF', files: new Map() };
  private readonly app: Df = { name: 'eMRTD', files: new Map() };
  private currentDf: Df = this.mf;
  private currentEf: Ef | undefined;
  private chain: { ins: number; p1: number; p2: number; data: Buffer[] } | undefined;
  private pendingResponse: Buffer | undefined;
  private used = 0;

  constructor(
    readonly booklet: Booklet,
    opts: SimChipOptions = {},
  ) {
    this.profile = CHIP_PROFILES[booklet.chipProfile];
    this.uid = Buffer.from(booklet.chipUid, 'hex');
    this.locked = booklet.faults.includes('locked');
    this.dead = booklet.faults.includes('dead-chip');
    this.mf.files.set(PREPERSO_FID, { fid: PREPERSO_FID, data: prePersoRecord(booklet) });
    this.writesRequireAuth = opts.transportLock ?? true;
    if (this.writesRequireAuth) this.secureChannel = new Scp03TransportLock(this);
  }

  /** ISO 14443-4 ATS: TL T0 TA TB TC, historical bytes 80 73 xx xx xx (card capabilities). */
  get ats(): Buffer {
    const caps3 = this.profile.atsClaimsExtended ? 0x40 : 0x00;
    const hist = Buffer.from([0x80, 0x73, 0x00, 0x00, caps3]);
    const body = Buffer.concat([Buffer.from([0x78, 0x77, 0x94, 0x02]), hist]);
    return Buffer.concat([Buffer.from([body.length + 1]), body]);
  }

  /** Field off/on: volatile state goes, files and lock stay. */
  reset(): void {
    this.currentDf = this.mf;
    this.currentEf = undefined;
    this.chain = undefined;
    this.pendingResponse = undefined;
    this.authenticated = false;
    this.secureChannel?.reset();
    this.bac.reset();
  }

  /** Names and sizes of the files in the eMRTD application (for tests and the hopper view). */
  listFiles(): { fid: number; size: number }[] {
    return [...this.app.files.values()].map((f) => ({ fid: f.fid, size: f.data.length }));
  }

  readFile(fid: number): Buffer | undefined {
    return this.app.files.get(fid)?.data;
  }

  /** Processes one command APDU; returns the response bytes. */
  process(raw: Buffer): Buffer {
    let apdu: DecodedApdu;
    try {
      apdu = decodeApdu(raw);
    } catch {
      return encodeResponse({ data: Buffer.alloc(0), sw: SW.WRONG_LENGTH });
    }
    if (apdu.extended && !this.profile.extendedLength)
      return encodeResponse({ data: Buffer.alloc(0), sw: SW.WRONG_LENGTH });
    let res: ApduResponse;
    if (apdu.ins === 0xc0 && (apdu.cla & 0x80) === 0) res = this.getResponse(apdu);
    else {
      this.pendingResponse = undefined;
      res = this.processLogical(apdu);
      if (this.profile.answerVia61 && res.data.length && res.sw === SW.OK) {
        this.pendingResponse = res.data;
        res = { data: Buffer.alloc(0), sw: 0x6100 | (Math.min(res.data.length, 256) % 256) };
      }
    }
    return encodeResponse(res);
  }

  private getResponse(apdu: DecodedApdu): ApduResponse {
    const pending = this.pendingResponse;
    if (!pending) return { data: Buffer.alloc(0), sw: SW.CONDITIONS_NOT_SATISFIED };
    const n = Math.min(apdu.le ?? 256, pending.length);
    const out = pending.subarray(0, n);
    const rest = pending.subarray(n);
    this.pendingResponse = rest.length ? rest : undefined;
    return {
      data: Buffer.from(out),
      sw: rest.length ? 0x6100 | (Math.min(rest.length, 256) % 256) : SW.OK,
    };
  }

  private processLogical(apdu: DecodedApdu): ApduResponse {
    if ((apdu.cla & 0xe0) !== 0 && apdu.cla !== 0x80 && apdu.cla !== 0x84)
      return fail(SW.CLA_NOT_SUPPORTED);
    // BAC takes its own commands unless the transport channel is open (which sees everything).
    const handler =
      !this.secureChannel?.active && this.bac.claims(apdu) ? this.bac : this.secureChannel;
    // A command without BAC secure messaging ends the session (Doc 9303 Part 11).
    if (handler !== this.bac) this.bac.reset();
    let cmd = apdu;
    if (handler) {
      const r = handler.intercept(apdu, this);
      if ('response' in r) return r.response;
      cmd = r.apdu;
    }
    const viaBac = handler === this.bac;
    // Every answer inside a channel is protected, those to chained parts included.
    const protect = (res: ApduResponse): ApduResponse =>
      handler ? handler.wrapResponse(res, this) : res;
    // Command chaining (CLA bit 0x10): collect, answer 9000, run on the last part.
    if (cmd.cla & 0x10) {
      if (
        this.chain &&
        (this.chain.ins !== cmd.ins || this.chain.p1 !== cmd.p1 || this.chain.p2 !== cmd.p2)
      ) {
        this.chain = undefined;
        return protect(fail(SW.LAST_COMMAND_EXPECTED));
      }
      this.chain ??= { ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, data: [] };
      this.chain.data.push(cmd.data);
      return protect(ok());
    }
    if (this.chain) {
      const chained = this.chain;
      this.chain = undefined;
      if (chained.ins !== cmd.ins) return protect(fail(SW.LAST_COMMAND_EXPECTED));
      cmd = { ...cmd, data: Buffer.concat([...chained.data, cmd.data]) };
    }
    return protect(this.execute(cmd, viaBac));
  }

  private writeAllowed(): number | undefined {
    if (this.locked) return SW.CONDITIONS_NOT_SATISFIED;
    if (this.writesRequireAuth && !this.authenticated) return SW.SECURITY_NOT_SATISFIED;
    return undefined;
  }

  private execute(a: DecodedApdu, viaBac: boolean): ApduResponse {
    const data = a.data;
    switch (a.ins) {
      case 0xa4:
        return this.select(a, data);
      case 0xb0:
        return this.readBinary(a, viaBac);
      case 0x88:
        return this.internalAuthenticate(a, viaBac);
      case 0xd6:
        return this.updateBinary(a, data);
      case 0xe0:
        return this.createFile(data);
      case 0xda:
        return this.putDataCmd(a, data);
      case 0xca:
        return this.getData(a);
      default:
        return fail(SW.INS_NOT_SUPPORTED);
    }
  }

  private select(a: DecodedApdu, data: Buffer): ApduResponse {
    if (a.p1 === 0x04) {
      if (!data.equals(EMRTD_AID)) return fail(SW.FILE_NOT_FOUND);
      this.currentDf = this.app;
      this.currentEf = undefined;
      return ok();
    }
    if ((a.p1 === 0x00 || a.p1 === 0x02) && data.length === 2) {
      const fid = data.readUInt16BE(0);
      if (fid === MF_FID && a.p1 === 0x00) {
        this.currentDf = this.mf;
        this.currentEf = undefined;
        return ok();
      }
      const ef =
        this.currentDf.files.get(fid) ?? (a.p1 === 0x00 ? this.mf.files.get(fid) : undefined);
      if (!ef) return fail(SW.FILE_NOT_FOUND);
      this.currentEf = ef;
      if ((a.p2 & 0x0c) === 0x0c) return ok();
      const fcp = tlv(
        0x62,
        Buffer.concat([
          tlv(0x80, Buffer.from([ef.data.length >> 8, ef.data.length & 0xff])),
          tlv(0x83, data),
        ]),
      );
      return { data: fcp, sw: SW.OK };
    }
    return fail(SW.WRONG_P1P2);
  }

  private readBinary(a: DecodedApdu, viaBac: boolean): ApduResponse {
    if (a.p1 & 0x80) return fail(SW.FUNCTION_NOT_SUPPORTED);
    const ef = this.currentEf;
    if (!ef) return fail(SW.NO_EF_SELECTED);
    // Once locked, the LDS is readable only after BAC, under its secure messaging.
    if (this.locked && !viaBac && this.app.files.get(ef.fid) === ef)
      return fail(SW.SECURITY_NOT_SATISFIED);
    const offset = (a.p1 << 8) | a.p2;
    if (offset > ef.data.length) return fail(SW.WRONG_OFFSET);
    const avail = ef.data.length - offset;
    const le = a.le ?? 256;
    if (this.profile.strictLe && le > avail && avail > 0 && !(le === 256 && avail >= 256))
      return fail(0x6c00 | (avail & 0xff));
    const n = Math.min(le, avail);
    return {
      data: Buffer.from(ef.data.subarray(offset, offset + n)),
      sw: n < le ? SW.EOF_WARNING : SW.OK,
    };
  }

  private updateBinary(a: DecodedApdu, data: Buffer): ApduResponse {
    const denied = this.writeAllowed();
    if (denied) return fail(denied);
    if (a.p1 & 0x80) return fail(SW.FUNCTION_NOT_SUPPORTED);
    const ef = this.currentEf;
    if (!ef) return fail(SW.NO_EF_SELECTED);
    if (ef.fid === PREPERSO_FID) return fail(SW.CONDITIONS_NOT_SATISFIED);
    const offset = (a.p1 << 8) | a.p2;
    if (!data.length) return fail(SW.WRONG_LENGTH);
    if (offset > ef.data.length) return fail(SW.WRONG_OFFSET);
    if (offset + data.length > ef.data.length) return fail(SW.WRONG_LENGTH);
    data.copy(ef.data, offset);
    return ok();
  }

  private createFile(data: Buffer): ApduResponse {
    const denied = this.writeAllowed();
    if (denied) return fail(denied);
    if (this.currentDf !== this.app) return fail(SW.CONDITIONS_NOT_SATISFIED);
    let fid: number | undefined;
    let size: number | undefined;
    try {
      const [fcp] = decodeTlvList(data);
      if (!fcp || fcp.tag !== 0x62) return fail(SW.WRONG_DATA);
      for (const t of decodeTlvList(fcp.value)) {
        if (t.tag === 0x83 && t.value.length === 2) fid = t.value.readUInt16BE(0);
        if (t.tag === 0x80 && t.value.length >= 1 && t.value.length <= 3)
          size = t.value.readUIntBE(0, t.value.length);
      }
    } catch {
      return fail(SW.WRONG_DATA);
    }
    if (fid === undefined || size === undefined || fid === MF_FID || fid === PREPERSO_FID)
      return fail(SW.WRONG_DATA);
    if (this.app.files.has(fid)) return fail(SW.FILE_EXISTS);
    if (size > 0x8000 || this.used + size > this.profile.memory) return fail(SW.NOT_ENOUGH_MEMORY);
    const ef = { fid, data: Buffer.alloc(size) };
    this.app.files.set(fid, ef);
    this.used += size;
    this.currentEf = ef;
    return ok();
  }

  /** The chip's life-cycle state: pre-personalized, personalization begun, or locked. */
  get lifeCycle(): number {
    if (this.locked) return LifeCycle.LOCKED;
    return this.app.files.size > 0 || this.putData.size > 0
      ? LifeCycle.PERSONALIZING
      : LifeCycle.PRE_PERSONALIZED;
  }

  /** Active Authentication: signs the terminal's 8-byte challenge with the key PUT in 0063. */
  private internalAuthenticate(a: DecodedApdu, viaBac: boolean): ApduResponse {
    const der = this.putData.get(PutDataTag.AA_PRIVATE_KEY);
    const key = der && aaKey(der);
    if (!key) return fail(SW.REFERENCED_DATA_NOT_FOUND);
    if (this.locked && !viaBac) return fail(SW.SECURITY_NOT_SATISFIED);
    if (a.p1 !== 0 || a.p2 !== 0) return fail(SW.WRONG_P1P2);
    if (a.data.length !== 8) return fail(SW.WRONG_LENGTH);
    return { data: aaSign(key, a.data), sw: SW.OK };
  }

  private getData(a: DecodedApdu): ApduResponse {
    const tag = (a.p1 << 8) | a.p2;
    if (tag !== PutDataTag.LIFECYCLE) return fail(SW.REFERENCED_DATA_NOT_FOUND);
    return { data: Buffer.from([this.lifeCycle]), sw: SW.OK };
  }

  private putDataCmd(a: DecodedApdu, data: Buffer): ApduResponse {
    const denied = this.writeAllowed();
    if (denied) return fail(denied);
    const tag = (a.p1 << 8) | a.p2;
    if (tag === PutDataTag.LIFECYCLE) {
      if (data.length !== 1 || data[0] !== 0x01) return fail(SW.WRONG_DATA);
      this.locked = true;
      return ok();
    }
    if (tag !== PutDataTag.BAC_KEY_SEED && tag !== PutDataTag.AA_PRIVATE_KEY)
      return fail(SW.REFERENCED_DATA_NOT_FOUND);
    if (!data.length) return fail(SW.WRONG_LENGTH);
    // Stored as given (link tests PUT arbitrary bytes); checked when BAC or AA uses it.
    this.putData.set(tag, Buffer.from(data));
    return ok();
  }
}

function aaKey(der: Buffer): KeyObject | undefined {
  try {
    const k = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    return k.asymmetricKeyType === 'ec' || k.asymmetricKeyType === 'rsa' ? k : undefined;
  } catch {
    return undefined;
  }
}

function ok(): ApduResponse {
  return { data: Buffer.alloc(0), sw: SW.OK };
}
function fail(sw: number): ApduResponse {
  return { data: Buffer.alloc(0), sw };
}

/** The pre-personalization record (mrtd/preperso-record.ts, docs/chip.md). */
export function prePersoRecord(b: Booklet): Buffer {
  if (b.faults.includes('corrupt-record')) return Buffer.from('70FFC10150', 'hex');
  return encodePrePersoRecord({
    bookletSerial: b.prePerso?.bookletSerial ?? b.bookletSerial ?? b.printedSerial,
    chipSerial: b.prePerso?.chipSerial ?? b.chipSerial,
    batchId: b.batch,
    agencyCode: b.prePerso?.agency ?? b.agency,
    chipProfile: b.profileId ?? b.chipProfile,
    keyVersion: b.keyVersion,
  });
}
