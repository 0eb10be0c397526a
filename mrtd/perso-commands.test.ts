import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeApdu, encodeApdu } from '../iso7816/apdu.ts';
import { buildLds, parseApplication } from './application.ts';
import { bacKeys, mrzInformationOf } from './bac.ts';
import { decodeTlv, decodeTlvList } from './tlv.ts';
import {
  PersoInputError,
  personalizationApdus,
  personalizationSteps,
  scp03PlainCapacity,
  type PersoInput,
} from './perso-commands.ts';
import { Scp03Card, Scp03Host, SecurityLevel } from './scp03.ts';

const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');
const app = parseApplication(
  JSON.parse(readFileSync(join(fixtures, 'application.json'), 'utf8')) as unknown,
);
const aa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const lds = buildLds(
  app,
  { face: readFileSync(join(fixtures, 'face-20k.jpg')) },
  { activeAuthenticationPublicKey: aa.publicKey.export({ type: 'spki', format: 'der' }) },
);
// The builder does not read EF.SOD: any bytes stand for it here (signing is tested elsewhere).
lds.files.set('EF.SOD', Buffer.from('7703020100', 'hex'));
const input = (over: Partial<PersoInput> = {}): PersoInput => ({
  files: new Map(lds.files),
  activeAuthenticationKey: aa.privateKey,
  ...over,
});

describe('personalization command sequence', () => {
  it('creates every file at its size, writes exactly its bytes, then the keys, lock last', () => {
    const steps = personalizationSteps(input());
    expect(steps.map((s) => s.what)).toEqual([
      'SELECT the eMRTD application',
      ...['EF.COM', 'DG1', 'DG2', 'DG11', 'DG12', 'DG14', 'DG15', 'EF.SOD'].flatMap((f) => [
        `CREATE FILE ${f}`,
        `UPDATE BINARY ${f}`,
      ]),
      'PUT DATA BAC key seed',
      'PUT DATA Active Authentication key',
      'PUT DATA life cycle: locked',
    ]);
    const apdus = personalizationApdus(steps, 200);
    expect(apdus.at(-1)).toEqual({ cla: 0, ins: 0xda, p1: 0, p2: 0xde, data: Buffer.from([1]) });
    // Replay the APDUs on a model of the file system: CREATE FILE selects, UPDATE BINARY writes.
    const written = new Map<number, Buffer>();
    let current: Buffer | undefined;
    for (const a of apdus) {
      if (a.ins === 0xe0) {
        const fcp = decodeTlvList(decodeTlv(a.data!).value);
        const size = fcp.find((t) => t.tag === 0x80)!.value.readUIntBE(0, 2);
        current = Buffer.alloc(size);
        written.set(fcp.find((t) => t.tag === 0x83)!.value.readUInt16BE(0), current);
      }
      if (a.ins === 0xd6) {
        expect(a.data!.length).toBeLessThanOrEqual(200);
        a.data!.copy(current!, (a.p1 << 8) | a.p2);
      }
    }
    for (const [name, data] of lds.files) {
      const fid =
        name === 'EF.COM' ? 0x011e : name === 'EF.SOD' ? 0x011d : 0x0100 + Number(name.slice(2));
      expect(written.get(fid), name).toEqual(data);
    }
    const seed = apdus.find((a) => a.ins === 0xda && a.p2 === 0x62)!.data!;
    expect(seed).toEqual(bacKeys(mrzInformationOf(lds.mrz)).kSeed);
    expect(mrzInformationOf(lds.mrz)).toBe('PE12345675' + '8503149' + '3603136');
    const key = apdus.find((a) => a.ins === 0xda && a.p2 === 0x63)!.data!;
    expect(key).toEqual(aa.privateKey.export({ type: 'pkcs8', format: 'der' }));
  });

  it('refuses bad input before anything is sent, naming what is wrong', () => {
    const without = (name: string) => {
      const files = new Map(lds.files);
      files.delete(name);
      return files;
    };
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const cases: [Partial<PersoInput>, RegExp][] = [
      [{ files: without('EF.SOD') }, /EF\.SOD is missing/],
      [{ files: without('DG1') }, /DG1 is missing/],
      [{ files: new Map([...lds.files, ['DG17', Buffer.from([1])]]) }, /DG17 is not an LDS file/],
      [{ files: new Map([...lds.files, ['DG3', Buffer.alloc(0)]]) }, /DG3 is empty/],
      [{ files: new Map([...lds.files, ['DG5', Buffer.alloc(0x8001)]]) }, /DG5 has 32769 bytes/],
      [{ activeAuthenticationKey: undefined }, /DG15 is present but no Active Authentication/],
      [{ files: without('DG15') }, /there is no DG15/],
      [{ activeAuthenticationKey: other }, /not the key of DG15/],
      [{ activeAuthenticationKey: Buffer.from('not a key') }, /not a PKCS #8 private key/],
      [{ mrzInformation: 'L898902C<369080619406236' }, /differs from the one in DG1/],
    ];
    for (const [over, message] of cases)
      expect(() => personalizationSteps(input(over))).toThrow(message);
    expect(() => personalizationSteps(input({ files: without('EF.COM') }))).toThrow(
      PersoInputError,
    );
  });

  it('fills a short APDU as far as SCP03 padding and MAC allow', () => {
    const keys = { enc: Buffer.alloc(16, 1), mac: Buffer.alloc(16, 2) };
    const host = new Scp03Host(keys, { securityLevel: SecurityLevel.C_DECRYPTION_C_MAC_R_MAC });
    const card = new Scp03Card(keys);
    host.completeAuthentication(
      card.externalAuthenticate(
        host.externalAuthenticate(card.initializeUpdate(host.initializeUpdate())),
      ),
    );
    const cap = scp03PlainCapacity(255, SecurityLevel.C_DECRYPTION_C_MAC_R_MAC);
    expect(cap).toBe(239);
    const wrap = (n: number) =>
      decodeApdu(host.wrap(encodeApdu({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: Buffer.alloc(n) })));
    expect(wrap(cap).data.length).toBe(248); // 240 bytes of cryptogram + 8 of C-MAC
    expect(wrap(cap + 1).extended).toBe(true);
    expect(scp03PlainCapacity(4096, SecurityLevel.C_DECRYPTION_C_MAC_R_MAC)).toBe(4079);
    expect(scp03PlainCapacity(255, SecurityLevel.C_MAC_R_MAC)).toBe(247);
  });
});
