import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aaSign, aaVerify } from './active-auth.ts';
import { buildLds, parseApplication, signLds } from './application.ts';
import { dg1, dg11, dg12, dg14, dg15, dg2, dg7, efCardAccess, efCom, OID } from './lds.ts';
import { passiveAuthentication } from './passive-auth.ts';
import { createTestPki } from './pki.ts';
import { PemKeySigner } from './signer.ts';
import { parseSod, signSod } from './sod.ts';
import { decodeTlv, encodedTlvList, tlv } from './tlv.ts';
import { crossCheckHashes, readLdsSecurityObject } from '../test/helpers/lds-security-object.ts';

const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');
const appJson = JSON.parse(readFileSync(join(fixtures, 'application.json'), 'utf8')) as unknown;
const face = readFileSync(join(fixtures, 'face.jpg'));
const signature = readFileSync(join(fixtures, 'signature.jpg'));
let pki: Awaited<ReturnType<typeof createTestPki>>;
let dir: string;

beforeAll(async () => {
  pki = await createTestPki({ country: 'PE' });
  dir = mkdtempSync(join(tmpdir(), 'sod-'));
  writeFileSync(join(dir, 'csca.pem'), pki.csca.certificatePem);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Verifies EF.SOD with `openssl cms -verify`; returns the LDSSecurityObject OpenSSL extracts. */
function opensslVerify(sod: Buffer): Buffer {
  const der = join(dir, `sod-${randomBytes(4).toString('hex')}.der`);
  // Strip the 77 wrapper: what remains is the CMS ContentInfo.
  writeFileSync(der, parseSod(sod).contentInfoDer);
  execFileSync(
    'openssl',
    [
      'cms',
      '-verify',
      '-inform',
      'DER',
      '-in',
      der,
      '-CAfile',
      join(dir, 'csca.pem'),
      '-purpose',
      'any',
      '-out',
      der + '.lso',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return readFileSync(der + '.lso');
}

/** What `openssl cms -verify` says when it refuses EF.SOD (throws if it accepts it). */
function opensslRefusal(sod: Buffer): string {
  try {
    opensslVerify(sod);
  } catch (e) {
    return String((e as { stderr?: string }).stderr);
  }
  throw new Error('OpenSSL accepted the SOD');
}

describe('LDS build, SOD signing and passive authentication', () => {
  it('builds every file, decodes each back, and signs an SOD that we and OpenSSL accept', async () => {
    const app = parseApplication(appJson);
    const aa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const aaSpki = aa.publicKey.export({ type: 'spki', format: 'der' });
    const lds = buildLds(
      app,
      { face, signature },
      {
        pace: true,
        chipAuthenticationPublicKey: ca.publicKey.export({ type: 'spki', format: 'der' }),
        activeAuthenticationPublicKey: aaSpki,
      },
    );
    expect([...lds.files.keys()]).toEqual([
      'EF.CardAccess',
      'EF.COM',
      'DG1',
      'DG2',
      'DG7',
      'DG11',
      'DG12',
      'DG14',
      'DG15',
    ]);
    const signer = new PemKeySigner(pki.ds.privateKeyPem);
    await signLds(lds, { signer, dsCertificate: pki.ds.certificateDer });
    const f = (n: string): Buffer => lds.files.get(n)!;

    expect(efCom.decode(f('EF.COM'))).toEqual({
      ldsVersion: '0107',
      unicodeVersion: '040000',
      dataGroups: [1, 2, 7, 11, 12, 14, 15],
    });
    expect(dg1.decode(f('DG1'))).toBe(
      'P<PERNUNEZ<DEL<RIO<<MARIA<JOSE<<<<<<<<<<<<<<' +
        'PE12345675PER8503149F360313645678912<<<<<<42',
    );
    const [img] = dg2.decode(f('DG2'));
    expect(img!.image.equals(face)).toBe(true);
    expect([img!.format, img!.width, img!.height, img!.gender]).toEqual(['jpeg', 240, 320, 'F']);
    expect(dg7.decode(f('DG7'))[0]!.equals(signature)).toBe(true);
    expect(dg11.decode(f('DG11'))).toEqual({
      fullName: 'NÚÑEZ DEL RÍO<<MARÍA JOSÉ',
      placeOfBirth: 'Lima, Perú',
      fullDateOfBirth: '19850314',
    });
    expect(dg12.decode(f('DG12'))).toEqual({
      issuingAuthority: 'Superintendencia Nacional de Migraciones',
      dateOfIssue: '20260314',
    });
    const infos = dg14.decode(f('DG14'));
    expect(infos.map((i) => i.protocol).sort()).toEqual(
      [OID.activeAuthentication, OID.caEcdhAes128, OID.pkEcdh, OID.paceEcdhGmAes128].sort(),
    );
    expect(efCardAccess.decode(f('EF.CardAccess'))).toEqual([
      { protocol: OID.paceEcdhGmAes128, version: 2, parameterId: 12 },
    ]);
    expect(dg15.decode(f('DG15')).equals(aaSpki)).toBe(true);

    const report = await passiveAuthentication({
      files: lds.files,
      cscas: [pki.csca.certificatePem],
      printedMrz: lds.mrz,
    });
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.dataGroups).toEqual([1, 2, 7, 11, 12, 14, 15]);
    // OpenSSL checks the signature; its extracted LDSSecurityObject, read by a DER walk of the
    // test's own, hashes every data group file as node:crypto does, and only those.
    const lso = readLdsSecurityObject(opensslVerify(f('EF.SOD')));
    expect([lso.version, lso.hash, [...lso.hashes.keys()]]).toEqual([
      0,
      'sha256',
      [1, 2, 7, 11, 12, 14, 15],
    ]);
    expect(crossCheckHashes(lso, lds.files)).toEqual([]);

    // Active Authentication with the DG15 key.
    const challenge = randomBytes(8);
    expect(aaVerify(dg15.decode(f('DG15')), challenge, aaSign(aa.privateKey, challenge))).toEqual({
      ok: true,
    });
    expect(
      aaVerify(dg15.decode(f('DG15')), randomBytes(8), aaSign(aa.privateKey, challenge)).ok,
    ).toBe(false);
  });

  it('detects a changed data group, a wrong CSCA, a tampered signature and a different printed MRZ', async () => {
    const app = parseApplication(appJson);
    const lds = buildLds(app, { face });
    await signLds(lds, {
      signer: new PemKeySigner(pki.ds.privateKeyPem),
      dsCertificate: pki.ds.certificateDer,
      hash: 'sha384',
    });
    const files = new Map(lds.files);
    const dg2b = Buffer.from(files.get('DG2')!);
    dg2b[dg2b.length - 10] = dg2b[dg2b.length - 10]! ^ 0xff;
    files.set('DG2', dg2b);
    const other = await createTestPki({ country: 'PE' });
    const r = await passiveAuthentication({
      files,
      cscas: [other.csca.certificatePem],
      printedMrz: lds.mrz.replace('PE1234567', 'PE1234568'),
    });
    const failed = r.checks.filter((c) => !c.ok).map((c) => c.id);
    expect(failed).toEqual(['ds.chain', 'dg.2.hash', 'dg1.printed']);
    expect(r.ok).toBe(false);

    const sod = Buffer.from(lds.files.get('EF.SOD')!);
    const parsed = parseSod(sod);
    const sigAt = sod.lastIndexOf(Buffer.from(parsed.signerInfo.signature.buffer));
    sod[sigAt + 10] = sod[sigAt + 10]! ^ 1;
    const r2 = await passiveAuthentication({
      files: new Map([...lds.files, ['EF.SOD', sod]]),
      cscas: [pki.csca.certificatePem],
    });
    expect(r2.checks.filter((c) => !c.ok).map((c) => c.id)).toEqual(['sod.signature']);
    // OpenSSL names the signature, not the content digest.
    const sigRefusal = opensslRefusal(sod);
    expect(sigRefusal).toMatch(/CMS_SignerInfo_verify:verification failure/);
    expect(sigRefusal).not.toMatch(/content verify error/);

    // One byte of DG2's hash inside the signed content: the messageDigest no longer matches,
    // DG2 no longer matches its recorded hash, and OpenSSL names the content digest.
    const lsoTampered = Buffer.from(lds.files.get('EF.SOD')!);
    const dg2Hash = createHash('sha384').update(lds.files.get('DG2')!).digest();
    const hashAt = lsoTampered.indexOf(dg2Hash);
    expect(hashAt).toBeGreaterThan(0);
    lsoTampered[hashAt] = lsoTampered[hashAt]! ^ 1;
    const r3 = await passiveAuthentication({
      files: new Map([...lds.files, ['EF.SOD', lsoTampered]]),
      cscas: [pki.csca.certificatePem],
    });
    expect(r3.checks.filter((c) => !c.ok).map((c) => c.id)).toEqual([
      'sod.messageDigest',
      'dg.2.hash',
    ]);
    const contentRefusal = opensslRefusal(lsoTampered);
    expect(contentRefusal).toMatch(/CMS_SignerInfo_verify_content:verification failure/);
    expect(contentRefusal).toMatch(/content verify error/);
  });

  it('fails an LDS without DG1, DG2 or EF.COM, naming the missing file, and a printed MRZ with no DG1', async () => {
    const full = buildLds(parseApplication(appJson), { face });
    const signer = new PemKeySigner(pki.ds.privateKeyPem);
    // A consistent LDS that leaves data groups out: the SOD, EF.COM and the files all agree.
    const signedWithout = async (...drop: number[]): Promise<Map<string, Uint8Array>> => {
      const groups = new Map([...full.dataGroups].filter(([n]) => !drop.includes(n)));
      const files = new Map<string, Uint8Array>([...groups].map(([n, b]) => [`DG${n}`, b]));
      files.set(
        'EF.COM',
        efCom.encode({
          ldsVersion: '0107',
          unicodeVersion: '040000',
          dataGroups: [...groups.keys()],
        }),
      );
      files.set('EF.SOD', await signSod(groups, { signer, dsCertificate: pki.ds.certificateDer }));
      return files;
    };
    const failures = async (
      files: Map<string, Uint8Array>,
      printedMrz?: string,
    ): Promise<Record<string, string>> => {
      const r = await passiveAuthentication({
        files,
        cscas: [pki.csca.certificatePem],
        printedMrz,
      });
      const failed = r.checks.filter((c) => !c.ok);
      expect(r.ok).toBe(failed.length === 0);
      return Object.fromEntries(failed.map((c) => [c.id, c.detail]));
    };
    const bogus =
      'P<UTOBOGUS<<NOBODY<<<<<<<<<<<<<<<<<<<<<<<<<<\nX000000000UTO0001010M3001010<<<<<<<<<<<<<<00';

    const noDg1 = await signedWithout(1);
    expect(await failures(noDg1, bogus)).toEqual({
      'dg1.present': 'DG1 (the MRZ) is missing; it is mandatory',
      'dg1.printed': 'no readable DG1 to compare the printed MRZ with',
    });
    expect(await failures(noDg1)).toEqual({
      'dg1.present': 'DG1 (the MRZ) is missing; it is mandatory',
    });
    expect(await failures(await signedWithout(2), full.mrz)).toEqual({
      'dg2.present': 'DG2 (the face) is missing; it is mandatory',
    });
    const noCom = await signedWithout();
    noCom.delete('EF.COM');
    expect(await failures(noCom, full.mrz)).toEqual({
      'com.present': 'EF.COM (the list of data groups) is missing; it is mandatory',
    });
    // The complete LDS passes, with the printed MRZ equal to DG1.
    expect(await failures(await signedWithout(), full.mrz)).toEqual({});
    // EF.COM and the SOD list DG1 but its file is gone: the hash, the file and EF.COM's list.
    const lost = await signedWithout();
    lost.delete('DG1');
    expect(await failures(lost, full.mrz)).toEqual({
      'dg.1.hash': 'DG1 is in the SOD but its file is missing',
      'dg1.present': 'DG1 (the MRZ) is missing; it is mandatory',
      'com.dataGroups':
        'EF.COM lists DG 1,2,11,12, the SOD has DG 1,2,11,12, the files are DG 2,11,12',
      'dg1.printed': 'no readable DG1 to compare the printed MRZ with',
    });
  });

  it('refuses to sign with a key that is not the Document Signer certificate key', async () => {
    const lds = buildLds(parseApplication(appJson), { face });
    const otherEc = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }).toString();
    await expect(
      signLds(lds, {
        signer: new PemKeySigner(pem(otherEc.privateKey)),
        dsCertificate: pki.ds.certificateDer,
      }),
    ).rejects.toThrow(/signing key does not match the Document Signer certificate/);
    await expect(
      signLds(lds, {
        signer: new PemKeySigner(pem(rsa.privateKey)),
        dsCertificate: pki.ds.certificateDer,
      }),
    ).rejects.toThrow(/certificate holds a ec key but the signing key is rsa/);
    await expect(
      signLds(lds, {
        signer: new PemKeySigner(pki.ds.privateKeyPem),
        dsCertificate: Buffer.from('not a certificate'),
      }),
    ).rejects.toThrow(/Document Signer certificate is not a readable X.509 certificate/);
    expect(lds.files.has('EF.SOD')).toBe(false);
  });

  it('puts the Document Signer certificate into EF.SOD as issued, byte for byte', async () => {
    // The same certificate in an encoding a schema does not keep: the outer signatureAlgorithm
    // SEQUENCE's length in long form (30 81 0A instead of 30 0A). It is outside what the CSCA
    // signed, so the certificate still verifies; encoded again, it would come out shorter.
    const der = pki.ds.certificateDer;
    const children = encodedTlvList(decodeTlv(der).value);
    const algorithm = children[1]!;
    expect(algorithm[0]).toBe(0x30);
    expect(algorithm[1]).toBeLessThan(0x80);
    const longForm = Buffer.concat([Buffer.from([0x30, 0x81]), algorithm.subarray(1)]);
    const issued = tlv(0x30, [children[0]!, longForm, children[2]!]);
    expect(issued.length).toBe(der.length + 1);

    const lds = buildLds(parseApplication(appJson), { face });
    await signLds(lds, { signer: new PemKeySigner(pki.ds.privateKeyPem), dsCertificate: issued });
    const sod = lds.files.get('EF.SOD')!;
    expect(sod.includes(issued)).toBe(true);
    expect(parseSod(sod).certificates.map((c) => c.toString('hex'))).toEqual([
      issued.toString('hex'),
    ]);
  });

  it('signs with an RSA-2048 Document Signer key and an RSA Active Authentication key', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const { issueDocumentSigner } = await import('./pki.ts');
    const ds = await issueDocumentSigner(
      pki.csca,
      rsa.publicKey.export({ type: 'spki', format: 'der' }),
      { country: 'PE' },
    );
    const lds = buildLds(
      parseApplication(appJson),
      { face },
      { activeAuthenticationPublicKey: rsa.publicKey.export({ type: 'spki', format: 'der' }) },
    );
    expect(lds.files.has('DG14')).toBe(false);
    await signLds(lds, {
      signer: new PemKeySigner(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' })),
      dsCertificate: ds.certificateDer,
    });
    expect(
      (await passiveAuthentication({ files: lds.files, cscas: [pki.csca.certificatePem] })).ok,
    ).toBe(true);
    expect(
      crossCheckHashes(readLdsSecurityObject(opensslVerify(lds.files.get('EF.SOD')!)), lds.files),
    ).toEqual([]);
    const challenge = randomBytes(8);
    expect(
      aaVerify(dg15.decode(lds.files.get('DG15')!), challenge, aaSign(rsa.privateKey, challenge)),
    ).toEqual({ ok: true });
  });
});
