import { describe, expect, it } from 'vitest';
import { decodeResponse, encodeApdu, type Apdu } from '../iso7816/apdu.ts';
import { BacTerminal, bacKeys } from '../mrtd/bac.ts';
import { SmTerminal } from '../mrtd/secure-messaging.ts';
import { EMRTD_AID, PREPERSO_FID, SimChip, type SecureChannelHandler } from './chip.ts';
import { defaultHopper, makeBooklet, parseHopper } from './hopper.ts';

function run(chip: SimChip, a: Apdu, extended?: boolean) {
  return decodeResponse(chip.process(encodeApdu(a, extended)));
}
const sw = (chip: SimChip, a: Apdu, extended?: boolean): string =>
  run(chip, a, extended).sw.toString(16).toUpperCase();

const selectApp: Apdu = { cla: 0, ins: 0xa4, p1: 4, p2: 0x0c, data: EMRTD_AID };
const create = (fid: number, size: number): Apdu => ({
  cla: 0,
  ins: 0xe0,
  p1: 0,
  p2: 0,
  data: Buffer.from([0x62, 8, 0x80, 2, size >> 8, size & 0xff, 0x83, 2, fid >> 8, fid & 0xff]),
});

describe('simulated chip', () => {
  it('personalizes, locks, and then refuses every write with 6985', () => {
    const chip = new SimChip(makeBooklet({ serial: 'PA7000001' }), { transportLock: false });
    expect(sw(chip, selectApp)).toBe('9000');
    expect(sw(chip, create(0x011e, 32))).toBe('9000');
    expect(sw(chip, { cla: 0, ins: 0xd6, p1: 0, p2: 0, data: Buffer.from('600a') })).toBe('9000');
    expect(sw(chip, { cla: 0, ins: 0xda, p1: 0, p2: 0xde, data: Buffer.from([2]) })).toBe('6A80');
    expect(sw(chip, { cla: 0, ins: 0xda, p1: 0, p2: 0xde, data: Buffer.from([1]) })).toBe('9000');
    expect(chip.locked).toBe(true);
    expect(sw(chip, { cla: 0, ins: 0xd6, p1: 0, p2: 0, data: Buffer.from([1]) })).toBe('6985');
    expect(sw(chip, create(0x0101, 10))).toBe('6985');
    expect(sw(chip, { cla: 0, ins: 0xda, p1: 0, p2: 0x62, data: Buffer.from([1]) })).toBe('6985');
    // After the lock the LDS is read only under BAC (border-reader tests); a plain read: 6982.
    expect(sw(chip, { cla: 0, ins: 0xa4, p1: 2, p2: 0x0c, data: Buffer.from([1, 0x1e]) })).toBe(
      '9000',
    );
    expect(sw(chip, { cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 2 })).toBe('6982');
  });

  it('answers errors the way ISO 7816-4 says', () => {
    const chip = new SimChip(makeBooklet({ serial: 'PA7000002', chipProfile: 'emrtd-short-64k' }), {
      transportLock: false,
    });
    expect(sw(chip, { cla: 0, ins: 0x99, p1: 0, p2: 0 })).toBe('6D00');
    expect(sw(chip, { cla: 0x40, ins: 0xa4, p1: 4, p2: 0x0c, data: EMRTD_AID })).toBe('6E00');
    expect(sw(chip, { ...selectApp, data: Buffer.from('A000000247', 'hex') })).toBe('6A82');
    expect(sw(chip, { cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 10 })).toBe('6986');
    // Extended APDUs on a short-only chip.
    expect(sw(chip, { ...selectApp }, true)).toBe('6700');
    expect(sw(chip, selectApp)).toBe('9000');
    expect(sw(chip, create(0x0102, 0x8000))).toBe('9000');
    expect(sw(chip, create(0x0102, 10))).toBe('6A89');
    expect(sw(chip, create(0x0103, 0x8000))).toBe('9000');
    expect(sw(chip, create(0x0104, 1))).toBe('6A84'); // 64 KB used up
    expect(sw(chip, create(0x0105, 0x8001))).toBe('6A84');
    expect(sw(chip, { cla: 0, ins: 0xd6, p1: 0x7f, p2: 0xff, data: Buffer.from([1, 2]) })).toBe(
      '6700',
    );
    // A chain whose parts disagree.
    expect(sw(chip, { cla: 0x10, ins: 0xda, p1: 0, p2: 0x63, data: Buffer.from([1]) })).toBe(
      '9000',
    );
    expect(sw(chip, { cla: 0x10, ins: 0xd6, p1: 0, p2: 0, data: Buffer.from([1]) })).toBe('6883');
  });

  it('keeps the pre-personalization record readable and never writable', () => {
    const chip = new SimChip(makeBooklet({ serial: 'PA7000003' }), { transportLock: false });
    chip.writesRequireAuth = true;
    expect(sw(chip, { cla: 0, ins: 0xa4, p1: 2, p2: 0x0c, data: Buffer.from([0x2f, 0x10]) })).toBe(
      '9000',
    );
    const rec = run(chip, { cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 256 });
    expect(rec.sw).toBe(0x6282);
    expect(rec.data.includes(Buffer.from('PA7000003'))).toBe(true);
    chip.writesRequireAuth = false;
    expect(sw(chip, { cla: 0, ins: 0xd6, p1: 0, p2: 0, data: Buffer.from([1]) })).toBe('6985');
    expect(PREPERSO_FID).toBe(0x2f10);
  });

  it('gates writes behind authentication and lets a secure channel intercept APDUs', () => {
    const chip = new SimChip(makeBooklet({ serial: 'PA7000004' }), { transportLock: false });
    chip.writesRequireAuth = true;
    expect(sw(chip, selectApp)).toBe('9000');
    expect(sw(chip, create(0x0101, 10))).toBe('6982');
    const seen: number[] = [];
    const channel: SecureChannelHandler = {
      intercept(apdu, c) {
        seen.push(apdu.ins);
        if (apdu.cla === 0x80 && apdu.ins === 0x82) {
          c.authenticated = true;
          return { response: { data: Buffer.alloc(0), sw: 0x9000 } };
        }
        return { apdu: { ...apdu, cla: apdu.cla & ~0x04 } };
      },
      wrapResponse: (res) => ({ ...res, data: Buffer.concat([res.data, Buffer.from([0xaa])]) }),
      reset: () => undefined,
    };
    chip.secureChannel = channel;
    expect(sw(chip, { cla: 0x80, ins: 0x82, p1: 0, p2: 0, data: Buffer.alloc(8) })).toBe('9000');
    const r = run(chip, { ...create(0x0101, 10), cla: 0x04 });
    expect(r.sw).toBe(0x9000);
    expect(r.data).toEqual(Buffer.from([0xaa]));
    expect(seen).toEqual([0x82, 0xe0]);
    chip.reset();
    expect(chip.authenticated).toBe(false);
  });
});

describe('BAC on the simulated chip', () => {
  const info = 'L898902C<369080619406236';
  const locked = (): SimChip => {
    const chip = new SimChip(makeBooklet({ serial: 'PA7000005' }), { transportLock: false });
    run(chip, selectApp);
    run(chip, create(0x011e, 4));
    run(chip, { cla: 0, ins: 0xd6, p1: 0, p2: 0, data: Buffer.from('60020102', 'hex') });
    const seed = bacKeys(info).kSeed;
    // A seed that is not a K_seed gives no BAC; the chip keeps the last one PUT.
    expect(sw(chip, { cla: 0, ins: 0xda, p1: 0, p2: 0x62, data: seed.subarray(1) })).toBe('9000');
    expect(sw(chip, { cla: 0, ins: 0x84, p1: 0, p2: 0, le: 8 })).toBe('6985');
    expect(sw(chip, { cla: 0, ins: 0xda, p1: 0, p2: 0x62, data: seed })).toBe('9000');
    // Not a private key: INTERNAL AUTHENTICATE finds no AA key.
    expect(sw(chip, { cla: 0, ins: 0xda, p1: 0, p2: 0x63, data: Buffer.from('3000', 'hex') })).toBe(
      '9000',
    );
    expect(sw(chip, { cla: 0, ins: 0xda, p1: 0, p2: 0xde, data: Buffer.from([1]) })).toBe('9000');
    return chip;
  };
  const bac = (chip: SimChip, mrzInfo: string): SmTerminal | string => {
    const rnd = run(chip, { cla: 0, ins: 0x84, p1: 0, p2: 0, le: 8 });
    const t = new BacTerminal(bacKeys(mrzInfo), rnd.data);
    const r = run(chip, {
      cla: 0,
      ins: 0x82,
      p1: 0,
      p2: 0,
      data: t.externalAuthenticateData(),
      le: 40,
    });
    return r.sw === 0x9000 ? new SmTerminal(t.complete(r.data)) : r.sw.toString(16).toUpperCase();
  };
  const smSw = (chip: SimChip, sm: SmTerminal, a: Apdu) =>
    decodeResponse(sm.unwrapResponse(chip.process(sm.wrap(encodeApdu(a)))));
  const selectCom: Apdu = { cla: 0, ins: 0xa4, p1: 2, p2: 0x0c, data: Buffer.from([1, 0x1e]) };
  const readCom: Apdu = { cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 4 };

  it('opens secure messaging with the seed PUT by personalization, and only with it', () => {
    const chip = locked();
    expect(bac(chip, 'L898902C<369080619406237')).toBe('6300');
    const sm = bac(chip, info) as SmTerminal;
    expect(smSw(chip, sm, selectCom).sw).toBe(0x9000);
    expect(smSw(chip, sm, readCom)).toEqual({ data: Buffer.from('60020102', 'hex'), sw: 0x9000 });
    // A plain command ends the session: the next protected one is refused.
    expect(sw(chip, readCom)).toBe('6982');
    expect(decodeResponse(chip.process(sm.wrap(encodeApdu(readCom)))).sw).toBe(0x6982);
    // INTERNAL AUTHENTICATE: no AA key PUT on this chip.
    const sm2 = bac(chip, info) as SmTerminal;
    const ia = { cla: 0, ins: 0x88, p1: 0, p2: 0, data: Buffer.alloc(8), le: 256 };
    expect(smSw(chip, sm2, ia).sw).toBe(0x6a88);
  });
});

describe('hopper files', () => {
  it('the default hopper is valid and mixes good and faulty booklets', () => {
    const h = parseHopper(defaultHopper(20));
    expect(h.booklets).toHaveLength(20);
    const faults = h.booklets.flatMap((b) => b.faults);
    expect(faults).toEqual(
      expect.arrayContaining(['misprinted-serial', 'dead-chip', 'unreadable-serial', 'locked']),
    );
    expect(new Set(h.booklets.map((b) => b.chipProfile)).size).toBeGreaterThan(1);
    expect(h.booklets.filter((b) => b.faults.length === 0).length).toBeGreaterThan(14);
  });

  it('names the offending field of a bad hopper', () => {
    const h = defaultHopper(2) as unknown as { booklets: Record<string, unknown>[] };
    h.booklets[1]!.transportKeys = { enc: 'zz', mac: '00', dek: '00' };
    expect(() => parseHopper(h, 'h.json')).toThrow(
      /h\.json: booklets\.1\.transportKeys\.enc: must be 16 bytes of hex/,
    );
    expect(() => parseHopper({ version: 2, booklets: [] })).toThrow(/version/);
  });
});
