/** A signed LDS and an open SCP03 channel to a simulated chip, for the chip personalization tests. */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMRTD_AID } from '../mrtd/chip.ts';
import { buildLds, parseApplication, signLds, type Lds } from '../mrtd/application.ts';
import type { createTestPki } from '../mrtd/pki.ts';
import { Scp03Host, SecurityLevel } from '../mrtd/scp03.ts';
import { PemKeySigner } from '../mrtd/signer.ts';
import { encodeApdu } from '../iso7816/apdu.ts';
import type { SimChip } from '../simulator/chip.ts';

const fixtures = join(import.meta.dirname, 'fixtures/mrtd');

export type TestPki = Awaited<ReturnType<typeof createTestPki>>;

export interface SignedLds extends Lds {
  aaKey: KeyObject;
}

/** DG1, a 20 KB DG2 face, DG11, DG12, DG14 and DG15 (AA key), EF.COM and the signed EF.SOD. */
export async function signedLds(
  pki: TestPki,
  aa: 'ec' | 'rsa' = 'ec',
  tamper?: (lds: Lds) => void,
): Promise<SignedLds> {
  const app = parseApplication(
    JSON.parse(readFileSync(join(fixtures, 'application.json'), 'utf8')) as unknown,
  );
  const keys =
    aa === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const lds = buildLds(
    app,
    { face: readFileSync(join(fixtures, 'face-20k.jpg')) },
    { activeAuthenticationPublicKey: keys.publicKey.export({ type: 'spki', format: 'der' }) },
  );
  await signLds(lds, {
    signer: new PemKeySigner(pki.ds.privateKeyPem),
    dsCertificate: pki.ds.certificateDer,
  });
  tamper?.(lds);
  return { ...lds, aaKey: keys.privateKey };
}

/** Field reset, the eMRTD application selected, SCP03 opened with the chip's transport keys. */
export function openScp03(chip: SimChip): Scp03Host {
  chip.reset();
  const select = chip.process(encodeApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0x0c, data: EMRTD_AID }));
  if (select.readUInt16BE(select.length - 2) !== 0x9000) throw new Error('SELECT AID failed');
  const k = chip.booklet.transportKeys;
  const host = new Scp03Host(
    {
      enc: Buffer.from(k.enc, 'hex'),
      mac: Buffer.from(k.mac, 'hex'),
      dek: Buffer.from(k.dek, 'hex'),
    },
    { keyVersion: chip.booklet.keyVersion, securityLevel: SecurityLevel.C_DECRYPTION_C_MAC_R_MAC },
  );
  const ext = host.externalAuthenticate(exchange(chip, host.initializeUpdate()));
  host.completeAuthentication(exchange(chip, ext));
  return host;
}

/** One command to the chip, its answer collected with GET RESPONSE when announced by 61xx. */
export function exchange(chip: SimChip, apdu: Buffer): Buffer {
  let r = chip.process(apdu);
  const parts: Buffer[] = [];
  while (r[r.length - 2] === 0x61) {
    parts.push(r.subarray(0, -2));
    r = chip.process(encodeApdu({ cla: 0, ins: 0xc0, p1: 0, p2: 0, le: r[r.length - 1] || 256 }));
  }
  return Buffer.concat([...parts, r]);
}
