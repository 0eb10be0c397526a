/**
 * End to end over the simulated chip (no serial link: SimChip answers APDUs): personalize a chip
 * under the SCP03 transport channel with a real LDS and SOD, lock it, then read it back as a
 * border reader would (BAC, secure messaging, passive authentication, DG1 = MRZ, Active
 * Authentication). Every chip profile, and each failure named by its check.
 */
import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { atsSupportsExtendedLength, decodeResponse, encodeApdu } from '../iso7816/apdu.ts';
import { chipFileSystemDump, readAsBorder } from '../mrtd/border-reader.ts';
import { dg1 } from '../mrtd/lds.ts';
import {
  PersoWriteError,
  personalizationSteps,
  runPersonalization,
  type PersoRunResult,
  type PersoStep,
} from '../mrtd/perso-commands.ts';
import { createTestPki } from '../mrtd/pki.ts';
import { LifeCycle, SimChip } from '../simulator/chip.ts';
import { makeBooklet, type ChipProfileName } from '../simulator/hopper.ts';
import { openScp03, signedLds, type SignedLds, type TestPki } from './chip-support.ts';

let pki: TestPki;
let lds: SignedLds;
let serial = 7100001;

beforeAll(async () => {
  pki = await createTestPki({ country: 'PE' });
  lds = await signedLds(pki);
});

const chipOf = (chipProfile: ChipProfileName = 'emrtd-ext-96k'): SimChip =>
  new SimChip(makeBooklet({ serial: `PC${serial++}`, chipProfile }));
const transceiveOf = (chip: SimChip) => async (raw: Buffer) => chip.process(raw);

async function personalize(
  chip: SimChip,
  from: SignedLds = lds,
  edit?: (steps: PersoStep[]) => void,
): Promise<PersoRunResult> {
  const steps = personalizationSteps({ files: from.files, activeAuthenticationKey: from.aaKey });
  edit?.(steps);
  return runPersonalization(steps, {
    transceive: transceiveOf(chip),
    channel: openScp03(chip),
    extendedLength: atsSupportsExtendedLength(chip.ats),
  });
}

function read(chip: SimChip, mrz = lds.mrz) {
  chip.reset(); // the booklet leaves the encoder and reaches a border reader
  return readAsBorder({
    transceive: transceiveOf(chip),
    mrz,
    cscas: [pki.csca.certificatePem],
    extendedLength: atsSupportsExtendedLength(chip.ats),
  });
}

describe('chip personalization and border read-back', () => {
  it.each([
    ['emrtd-ext-96k', true, false],
    ['emrtd-short-64k', false, false],
    ['emrtd-strict-64k', false, false],
    ['emrtd-quirky-64k', false, true],
  ] as const)(
    '%s: writes every file, locks, and reads back as a border would',
    async (profile, ext, fellBack) => {
      const chip = chipOf(profile);
      const run = await personalize(chip);
      expect(run.extendedLength).toBe(ext);
      expect(run.fellBackToShort).toBe(fellBack);
      expect(chip.lifeCycle).toBe(LifeCycle.LOCKED);
      for (const [name, data] of lds.files) {
        const fid =
          name === 'EF.COM' ? 0x011e : name === 'EF.SOD' ? 0x011d : 0x0100 + Number(name.slice(2));
        expect(chip.readFile(fid), name).toEqual(data);
      }
      expect(chip.listFiles().length).toBe(lds.files.size);

      const r = await read(chip);
      expect(r.failed).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.checks.map((c) => c.id)).toEqual(
        expect.arrayContaining([
          'bac',
          'read.DG2',
          'pa.sod.signature',
          'pa.dg.2.hash',
          'dg1.mrz',
          'aa',
        ]),
      );
      expect(dg1.decode(r.files.get('DG1')!)).toBe(lds.mrz);
      expect(chipFileSystemDump(r.files).map((f) => f.name)).toEqual([
        'EF.COM.bin',
        'DG1.bin',
        'DG2.bin',
        'DG11.bin',
        'DG12.bin',
        'DG14.bin',
        'DG15.bin',
        'EF.SOD.bin',
      ]);
      for (const f of chipFileSystemDump(r.files))
        expect(f.data).toEqual(lds.files.get(f.name.slice(0, -4)));
    },
  );

  it('extended length and pipelining: far fewer APDUs and waits than short APDUs', async () => {
    const ext = await personalize(chipOf('emrtd-ext-96k'));
    const short = await personalize(chipOf('emrtd-strict-64k'));
    const via61 = await personalize(chipOf('emrtd-short-64k'));
    expect(ext.window).toBeGreaterThan(1);
    expect(short.window).toBeGreaterThan(1);
    expect(via61.window).toBe(1); // answers via 61xx: one command at a time
    expect(ext.apdus * 4).toBeLessThan(short.apdus);
    expect(ext.roundTrips).toBeLessThan(short.roundTrips);
    expect(short.roundTrips * 2).toBeLessThan(short.apdus);
    expect(via61.apdus).toBeGreaterThan(short.apdus); // each answer fetched with GET RESPONSE
  });

  it('reads a file of known length several commands at once, unless the chip answers via 61xx', async () => {
    const stats = async (profile: ChipProfileName) => {
      const chip = chipOf(profile);
      await personalize(chip);
      const r = await read(chip);
      expect(r.failed, profile).toEqual([]);
      return r.stats;
    };
    const ext = await stats('emrtd-ext-96k'); // DG2 in 4096-byte reads: a few at once
    expect(ext.roundTrips).toBeLessThan(ext.apdus);
    const strict = await stats('emrtd-strict-64k'); // DG2 in ~60 short reads
    expect(strict.roundTrips * 2).toBeLessThan(strict.apdus);
    const via61 = await stats('emrtd-short-64k');
    expect(via61.roundTrips).toBe(via61.apdus);
  });

  it('a read failing among several at once names its offset, and the next files still read', async () => {
    // DG2's header says more bytes than its file holds: the reads sent together past the end
    // fail. Every answer of the batch is unwrapped, so the secure messaging counter stays in
    // step and the files read after DG2 (and Active Authentication) still verify.
    const chip = chipOf('emrtd-strict-64k');
    const dg2 = lds.files.get('DG2')!;
    const kept = dg2.length - 700;
    await personalize(chip, lds, (steps) => {
      for (const st of steps) {
        if (!('file' in st) || st.file !== 'DG2') continue;
        if (st.kind === 'create-file') {
          st.size = kept;
          const data = Buffer.from(st.apdu.data!);
          const at = data.indexOf(Buffer.from([0x80, 0x02, dg2.length >> 8, dg2.length & 0xff]));
          expect(at).toBeGreaterThanOrEqual(0);
          data.writeUInt16BE(kept, at + 2);
          st.apdu = { ...st.apdu, data };
        }
        if (st.kind === 'write-file') st.data = st.data.subarray(0, kept);
      }
    });
    const r = await read(chip);
    const readDg2 = r.checks.find((c) => c.id === 'read.DG2')!;
    expect(readDg2.ok).toBe(false);
    expect(readDg2.detail).toMatch(/^READ BINARY at offset \d+ answered /);
    expect(r.failed).toEqual(['read.DG2', 'pa.dg.2.hash', 'pa.dg2.present', 'pa.com.dataGroups']);
    for (const id of ['read.DG11', 'read.DG12', 'read.DG14', 'read.DG15', 'aa'])
      expect(r.checks.find((c) => c.id === id)?.ok, id).toBe(true);
  });

  it('an RSA Active Authentication key too long for one short APDU goes as a chain', async () => {
    const rsa = await signedLds(pki, 'rsa');
    for (const profile of ['emrtd-short-64k', 'emrtd-ext-96k'] as const) {
      const chip = chipOf(profile);
      await personalize(chip, rsa);
      expect(chip.putData.get(0x0063)!.length).toBeGreaterThan(1000);
      const r = await read(chip, rsa.mrz);
      expect(r.failed).toEqual([]);
    }
  });

  it('a wrong MRZ fails BAC, and nothing is read', async () => {
    const chip = chipOf();
    await personalize(chip);
    const wrong = lds.mrz.slice(0, 44) + 'PE1234568' + lds.mrz.slice(53);
    const r = await read(chip, wrong.slice(0, 53) + '3' + wrong.slice(54));
    expect(r.failed).toEqual(['bac']);
    expect(r.checks.find((c) => c.id === 'bac')!.detail).toMatch(/6300/);
    expect(r.files.size).toBe(0);
  });

  it('a data group altered after signing fails passive authentication naming it', async () => {
    const altered = await signedLds(pki, 'ec', (l) => {
      const dg11 = Buffer.from(l.files.get('DG11')!);
      dg11.writeUInt8(dg11.at(-1)! ^ 0x01, dg11.length - 1); // one letter of the place of birth
      l.files.set('DG11', dg11);
    });
    const chip = chipOf();
    await personalize(chip, altered);
    const r = await read(chip, altered.mrz);
    expect(r.failed).toEqual(['pa.dg.11.hash']);
    expect(r.ok).toBe(false);
  });

  it('a chip holding another AA key fails Active Authentication', async () => {
    const chip = chipOf();
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    await personalize(chip, lds, (steps) => {
      const put = steps.find((s) => s.kind === 'put-data' && s.tag === 0x0063)!;
      if (put.kind === 'put-data') put.apdu.data = other.export({ type: 'pkcs8', format: 'der' });
    });
    const r = await read(chip);
    expect(r.failed).toEqual(['aa']);
  });

  it('refuses every write after the lock', async () => {
    const chip = chipOf();
    await personalize(chip);
    const err = await personalize(chip).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PersoWriteError);
    expect((err as PersoWriteError).message).toBe('CREATE FILE EF.COM failed: status 6985');
    const host = openScp03(chip);
    for (const apdu of [
      { cla: 0, ins: 0xa4, p1: 2, p2: 0x0c, data: Buffer.from([1, 1]) },
      { cla: 0, ins: 0xd6, p1: 0, p2: 0, data: Buffer.from('61') },
      { cla: 0, ins: 0xda, p1: 0, p2: 0x62, data: Buffer.alloc(16) },
    ]) {
      const sw = decodeResponse(host.unwrapResponse(chip.process(host.wrap(encodeApdu(apdu))))).sw;
      expect(sw).toBe(apdu.ins === 0xa4 ? 0x9000 : 0x6985);
    }
    expect(chip.readFile(0x0101)).toEqual(lds.files.get('DG1'));
  });

  it('names the command the chip refused, and the data it was writing', async () => {
    const chip = new SimChip(
      makeBooklet({ serial: `PC${serial++}`, chipProfile: 'emrtd-strict-64k' }),
    );
    // Fill the chip first so DG2 no longer fits.
    const host = openScp03(chip);
    const wrapSend = (a: Parameters<typeof encodeApdu>[0]) =>
      decodeResponse(host.unwrapResponse(chip.process(host.wrap(encodeApdu(a))))).sw;
    // 0x7FF0 + 0x7000 bytes of the 64 KB: EF.COM and DG1 still fit, DG2 no longer does.
    expect(
      wrapSend({
        cla: 0,
        ins: 0xe0,
        p1: 0,
        p2: 0,
        data: Buffer.from('620880027FF083020110', 'hex'),
      }),
    ).toBe(0x9000);
    expect(
      wrapSend({
        cla: 0,
        ins: 0xe0,
        p1: 0,
        p2: 0,
        data: Buffer.from('6208800270008302010D', 'hex'),
      }),
    ).toBe(0x9000);
    const steps = personalizationSteps({ files: lds.files, activeAuthenticationKey: lds.aaKey });
    const err = await runPersonalization(steps, {
      transceive: transceiveOf(chip),
      channel: host,
      extendedLength: false,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('CREATE FILE DG2 failed: status 6A84');
  });
});
