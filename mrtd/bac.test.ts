/**
 * The worked example of ICAO Doc 9303 Part 11 (Eighth Edition, 2021), Appendix D "Worked
 * example: Basic Access Control" (D.2 key derivation, D.3 authentication and session keys,
 * D.4 secure messaging). Every value below is quoted from that appendix; each intermediate
 * value is recomputed by our code and compared.
 */
import { describe, expect, it } from 'vitest';
import { BacChip, BacError, BacTerminal, bacKeys, deriveDesKey } from './bac.ts';
import { retailMac, tdesDecrypt, tdesEncrypt } from './des.ts';
import { bacMrzInformation } from './mrz.ts';
import { SecureMessagingError, SmChip, SmTerminal } from './secure-messaging.ts';

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

// D.2: MRZ "L898902C<369080619406236" (document number L898902C<, check digit 3; date of birth
// 690806, check digit 1; date of expiry 940623, check digit 6).
const MRZ_INFO = 'L898902C<369080619406236';
const K_SEED = '239AB9CB282DAF66231DC5A4DF6BFBAE';
const K_ENC = 'AB94FDECF2674FDFB9B391F85D7F76F2';
const K_MAC = '7962D9ECE03D1ACD4C76089DCE131543';
// D.3
const RND_ICC = '4608F91988702212';
const RND_IFD = '781723860C06C226';
const K_IFD = '0B795240CB7049B01C19B33E32804F0B';
const S = '781723860C06C2264608F919887022120B795240CB7049B01C19B33E32804F0B';
const E_IFD = '72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2';
const M_IFD = '5F1448EEA8AD90A7';
const RESP = '46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449';
const R = '4608F91988702212781723860C06C2260B4F80323EB3191CB04970CB4052790B';
const K_ICC = '0B4F80323EB3191CB04970CB4052790B';
const KS_SEED = '0036D272F5C350ACAC50C3F572D23600';
const KS_ENC = '979EC13B1CBFE9DCD01AB0FED307EAE5';
const KS_MAC = 'F1CB1F1FB5ADF208806B89DC579DC1F8';
const SSC = '887022120C06C226';

describe('D.2 document basic access keys', () => {
  it('builds the MRZ information with its check digits', () => {
    expect(bacMrzInformation('L898902C', '690806', '940623')).toBe(MRZ_INFO);
  });
  it('derives Kseed, KEnc and KMac', () => {
    const k = bacKeys(MRZ_INFO);
    expect(hex(k.kSeed)).toBe(K_SEED);
    expect(hex(k.kEnc)).toBe(K_ENC);
    expect(hex(k.kMac)).toBe(K_MAC);
  });
  it('refuses MRZ information of the wrong shape', () => {
    expect(() => bacKeys('L898902C<3690806')).toThrow(/MRZ information/);
  });
});

describe('D.3 authentication and establishment of session keys', () => {
  const keys = bacKeys(MRZ_INFO);

  it('terminal: S, E.IFD, M.IFD and the command data', () => {
    expect(hex(tdesEncrypt(keys.kEnc, h(S)))).toBe(E_IFD);
    expect(hex(retailMac(keys.kMac, h(E_IFD)))).toBe(M_IFD);
    const t = new BacTerminal(keys, h(RND_ICC), { rndIfd: h(RND_IFD), kIfd: h(K_IFD) });
    expect(hex(t.externalAuthenticateData())).toBe(E_IFD + M_IFD);
  });

  it('terminal: checks the chip response and derives KSEnc, KSMac and SSC', () => {
    expect(hex(tdesDecrypt(keys.kEnc, h(RESP).subarray(0, 32)))).toBe(R);
    const t = new BacTerminal(keys, h(RND_ICC), { rndIfd: h(RND_IFD), kIfd: h(K_IFD) });
    const s = t.complete(h(RESP));
    const seed = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) seed[i] = h(K_IFD)[i]! ^ h(K_ICC)[i]!;
    expect(hex(seed)).toBe(KS_SEED);
    expect(hex(deriveDesKey(seed, 1))).toBe(KS_ENC);
    expect(hex(s.ksEnc)).toBe(KS_ENC);
    expect(hex(s.ksMac)).toBe(KS_MAC);
    expect(hex(s.ssc)).toBe(SSC);
  });

  it('chip: verifies the terminal cryptogram and answers with the published response', () => {
    const chip = new BacChip(keys, { rndIcc: h(RND_ICC), kIcc: h(K_ICC) });
    const { response, session } = chip.externalAuthenticate(h(E_IFD + M_IFD));
    expect(hex(response)).toBe(RESP);
    expect(hex(session.ksEnc)).toBe(KS_ENC);
    expect(hex(session.ksMac)).toBe(KS_MAC);
    expect(hex(session.ssc)).toBe(SSC);
  });

  it('rejects a wrong MAC, a wrong MRZ and a replayed challenge', () => {
    const t = new BacTerminal(keys, h(RND_ICC), { rndIfd: h(RND_IFD), kIfd: h(K_IFD) });
    const bad = h(RESP);
    bad[39] = bad[39]! ^ 1;
    expect(() => t.complete(bad)).toThrow(BacError);
    const other = new BacChip(bacKeys(bacMrzInformation('X12345678', '690806', '940623')));
    expect(() => other.externalAuthenticate(h(E_IFD + M_IFD))).toThrow(/MAC does not verify/);
    const chip = new BacChip(keys, { rndIcc: h('0000000000000000') });
    expect(() => chip.externalAuthenticate(h(E_IFD + M_IFD))).toThrow(/did not echo RND.ICC/);
  });

  it('random run: terminal and chip agree on the session', () => {
    const chip = new BacChip(keys);
    const t = new BacTerminal(keys, chip.rndIcc);
    const c = chip.externalAuthenticate(t.externalAuthenticateData());
    expect(t.complete(c.response)).toEqual(c.session);
  });
});

describe('D.4 secure messaging', () => {
  const session = { ksEnc: h(KS_ENC), ksMac: h(KS_MAC), ssc: h(SSC) };
  // Select EF.COM, read binary 4 bytes, read binary the remaining 18 bytes.
  const steps = [
    {
      plain: '00A4020C02011E',
      protectedCmd: '0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800',
      response: '990290008E08FA855A5D4C50A8ED9000',
      data: '',
    },
    {
      plain: '00B0000004',
      protectedCmd: '0CB000000D9701048E08ED6705417E96BA5500',
      response: '8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000',
      data: '60145F01',
    },
    {
      plain: '00B0000412',
      protectedCmd: '0CB000040D9701128E082EA28A70F3C7B53500',
      response:
        '871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000',
      data: '04303130365F36063034303030305C026175',
    },
  ];

  it('intermediate values of the SELECT: DO87, M, N and CC', () => {
    // D.4.1: padded data 011E800000000000 encrypts to 6375432908C044F6; SSC 887022120C06C227;
    // N = SSC || M padded; CC = BF8B92D635FF24F8.
    expect(hex(tdesEncrypt(h(KS_ENC), h('011E800000000000')))).toBe('6375432908C044F6');
    const n = '887022120C06C2270CA4020C800000008709016375432908C044F6';
    expect(hex(retailMac(h(KS_MAC), h(n)))).toBe('BF8B92D635FF24F8');
    // Response MAC over K = SSC || DO99 (SSC 887022120C06C228): CC = FA855A5D4C50A8ED.
    expect(hex(retailMac(h(KS_MAC), h('887022120C06C22899029000')))).toBe('FA855A5D4C50A8ED');
  });

  it('MACs and encrypts with the new key when a key buffer is rewritten with another key', () => {
    // The derived 3DES keys are kept per key object: a buffer reused for the published session
    // keys must give the published values, not those of the key it held before.
    const macKey = Buffer.alloc(16, 0x5a);
    const encKey = Buffer.alloc(16, 0xa5);
    retailMac(macKey, h('887022120C06C22899029000'));
    tdesEncrypt(encKey, h('011E800000000000'));
    h(KS_MAC).copy(macKey);
    h(KS_ENC).copy(encKey);
    expect(hex(retailMac(macKey, h('887022120C06C22899029000')))).toBe('FA855A5D4C50A8ED');
    expect(hex(tdesEncrypt(encKey, h('011E800000000000')))).toBe('6375432908C044F6');
  });

  it('terminal side reproduces every protected command and unprotected response', () => {
    const sm = new SmTerminal(session);
    for (const s of steps) {
      expect(hex(sm.wrap(h(s.plain)))).toBe(s.protectedCmd);
      expect(hex(sm.unwrapResponse(h(s.response)))).toBe(s.data + '9000');
    }
    expect(hex(sm.ssc)).toBe('887022120C06C22C');
  });

  it('chip side verifies every protected command and produces the published responses', () => {
    const chip = new SmChip(session);
    for (const s of steps) {
      const cmd = chip.unwrapCommand(h(s.protectedCmd));
      const plain = h(s.plain);
      expect([cmd.cla, cmd.ins, cmd.p1, cmd.p2]).toEqual([...plain.subarray(0, 4)]);
      expect(hex(chip.wrapResponse(h(s.data), 0x9000))).toBe(s.response);
    }
  });

  it('chip refuses a tampered command, terminal refuses a tampered response', () => {
    const chip = new SmChip(session);
    const cmd = h(steps[0]!.protectedCmd);
    cmd[8] = cmd[8]! ^ 0x01;
    expect(() => chip.unwrapCommand(cmd)).toThrow(SecureMessagingError);
    const t = new SmTerminal(session);
    t.wrap(h(steps[0]!.plain));
    const r = h(steps[0]!.response);
    r[1] = 0x03;
    expect(() => t.unwrapResponse(r)).toThrow();
    const t2 = new SmTerminal(session);
    t2.wrap(h(steps[0]!.plain));
    expect(() => t2.unwrapResponse(h('9000'))).toThrow(/unprotected success/);
  });

  it('carries long data (UPDATE BINARY of 223 bytes) both ways', () => {
    const t = new SmTerminal(session);
    const chip = new SmChip(session);
    const data = Buffer.alloc(223, 0x5a);
    const cmd = chip.unwrapCommand(t.wrap(Buffer.concat([h('00D60000DF'), data])));
    expect(cmd.data.equals(data)).toBe(true);
    expect(hex(t.unwrapResponse(chip.wrapResponse(Buffer.alloc(0), 0x9000)))).toBe('9000');
  });
});
