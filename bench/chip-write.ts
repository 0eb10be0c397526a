/**
 * The chip-write phase of one personalization (mrtd/perso-commands.ts) through the real serial
 * stack, the simulator throttling the line to 115200 baud 8N1: a typical LDS (DG1, a 20 KB DG2
 * face, DG11, DG12, DG14, DG15, EF.COM, an ECDSA EF.SOD), the BAC key seed, the AA key and the
 * lock, all under SCP03 with the chip's transport keys. For each chip profile and way of
 * writing: APDUs (as the chip saw them), round trips (waits for the chip), bytes sent, time, and the time's ratio to
 * the wire time of the APDU bytes sent (bytes * 10 / 115200 s). Target: at most 1.3.
 *
 *   node bin/run-ts.mjs bench/chip-write.ts [runs]
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EncoderClient } from '../drivers/encoder.ts';
import { openSerialLink } from '../drivers/open.ts';
import { PrinterClient } from '../drivers/printer.ts';
import { atsSupportsExtendedLength, encodeApdu } from '../iso7816/apdu.ts';
import { buildLds, parseApplication, signLds } from '../mrtd/application.ts';
import { ChipIo } from '../mrtd/chip-io.ts';
import { EMRTD_AID } from '../mrtd/chip.ts';
import { personalizationSteps, runPersonalization } from '../mrtd/perso-commands.ts';
import { createTestPki } from '../mrtd/pki.ts';
import { Scp03Host, SecurityLevel } from '../mrtd/scp03.ts';
import { claimPermitAuthority } from '../drivers/permit.ts';
import { PemKeySigner } from '../mrtd/signer.ts';
import { makeBooklet, startSimulator, type ChipProfileName } from '../simulator/index.ts';

const runs = Number(process.argv[2] ?? 3);
const BAUD = 115200;
const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');

const pki = await createTestPki({ country: 'PE' });
const aa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const app = parseApplication(
  JSON.parse(readFileSync(join(fixtures, 'application.json'), 'utf8')) as unknown,
);
const lds = buildLds(
  app,
  { face: readFileSync(join(fixtures, 'face-20k.jpg')) },
  { activeAuthenticationPublicKey: aa.publicKey.export({ type: 'spki', format: 'der' }) },
);
await signLds(lds, {
  signer: new PemKeySigner(pki.ds.privateKeyPem),
  dsCertificate: pki.ds.certificateDer,
});
const ldsBytes = [...lds.files.values()].reduce((n, b) => n + b.length, 0);

interface Mode {
  label: string;
  profile: ChipProfileName;
  /** undefined: as the ATS says. */
  extended?: boolean;
  window: number;
  /** An encoder that only relays APDUs (no TRANSCEIVE_COLLECT): the station collects 61xx. */
  relayOnly?: boolean;
}
const MODES: Mode[] = [
  { label: 'short, one at a time (before)', profile: 'emrtd-ext-96k', extended: false, window: 1 },
  { label: 'short, pipelined', profile: 'emrtd-strict-64k', window: 4 },
  { label: 'extended, one at a time', profile: 'emrtd-ext-96k', window: 1 },
  { label: 'extended, pipelined', profile: 'emrtd-ext-96k', window: 4 },
  { label: 'ATS lies: 6700, short', profile: 'emrtd-quirky-64k', window: 4 },
  {
    label: 'short, 61xx, relaying encoder',
    profile: 'emrtd-short-64k',
    window: 4,
    relayOnly: true,
  },
  { label: 'short, 61xx, collecting encoder', profile: 'emrtd-short-64k', window: 4 },
];

// A drivers-only benchmark: no station (and no device gate) runs in this process, so it holds
// the permit authority itself to move booklets and write chips.
const permits = claimPermitAuthority();

async function measure(mode: Mode) {
  const booklets = Array.from({ length: runs }, (_, i) =>
    makeBooklet({ serial: `PW${5000001 + i}`, chipProfile: mode.profile }),
  );
  const sim = await startSimulator({ hopper: { version: 1, booklets }, profile: 'throttled' });
  sim.device.collectsResponses = !mode.relayOnly;
  const link = await openSerialLink(sim.stationPath, { baudRate: BAUD });
  const printer = new PrinterClient(link);
  const enc = new EncoderClient(link);
  let permit = permits.mint({ purpose: 'bench', operations: [], links: [link] });
  const transceive = (raw: Buffer) => enc.transmit(raw, permit);
  const out: { seconds: number; apdus: number; roundTrips: number; bytesSent: number }[] = [];
  try {
    for (const b of booklets) {
      permit = permits.mint({
        purpose: 'chip-write bench',
        operations: ['FEED', 'MOVE_TO_ENCODER', 'CHIP_AUTH', 'CHIP_WRITE', 'EJECT'],
        links: [link],
      });
      await printer.feed(permit);
      await printer.moveToEncoder(permit);
      await enc.field(true);
      const chip = await enc.detectChip();
      // Transport authentication as intake does it (not timed).
      const io = new ChipIo(transceive);
      await io.exchange(encodeApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0x0c, data: EMRTD_AID }));
      const k = b.transportKeys;
      const host = new Scp03Host(
        {
          enc: Buffer.from(k.enc, 'hex'),
          mac: Buffer.from(k.mac, 'hex'),
          dek: Buffer.from(k.dek, 'hex'),
        },
        { keyVersion: b.keyVersion, securityLevel: SecurityLevel.C_DECRYPTION_C_MAC_R_MAC },
      );
      const ext = host.externalAuthenticate(await io.exchange(host.initializeUpdate()));
      host.completeAuthentication(await io.exchange(ext));

      const steps = personalizationSteps({
        files: lds.files,
        activeAuthenticationKey: aa.privateKey,
      });
      const chipApdus = sim.device.counters.apdus;
      const t0 = performance.now();
      const r = await runPersonalization(steps, {
        transceive,
        channel: host,
        extendedLength: mode.extended ?? atsSupportsExtendedLength(chip.ats),
        window: mode.window,
      });
      // APDUs as the chip saw them (a collecting encoder sends the GET RESPONSEs itself); bytes
      // as the station sent them on the line.
      const seconds = (performance.now() - t0) / 1000;
      out.push({ seconds, ...r, apdus: sim.device.counters.apdus - chipApdus });
      const written = sim.device.current?.chip;
      if (!written?.locked || written.readFile(0x0102)?.equals(lds.files.get('DG2')!) !== true)
        throw new Error('the chip does not hold what was written');
      await printer.eject('output', permit);
    }
  } finally {
    await link.close();
    await sim.close();
  }
  out.sort((a, b) => a.seconds - b.seconds);
  return out[Math.floor(out.length / 2)]!;
}

console.log(
  `chip write of a typical LDS (${ldsBytes} bytes in ${lds.files.size} files) under SCP03, ${BAUD} baud 8N1, median of ${runs}`,
);
console.log(
  'mode                            profile            APDUs  waits  bytes sent  seconds  wire s  ratio',
);
for (const mode of MODES) {
  const m = await measure(mode);
  const wire = (m.bytesSent * 10) / BAUD;
  console.log(
    `${mode.label.padEnd(32)}${mode.profile.padEnd(19)}${String(m.apdus).padStart(5)}  ${String(m.roundTrips).padStart(5)}  ${String(m.bytesSent).padStart(10)}  ${m.seconds.toFixed(3).padStart(7)}  ${wire.toFixed(3).padStart(6)}  ${(m.seconds / wire).toFixed(2).padStart(5)}`,
  );
}
