import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
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
import { parseSod } from './sod.ts';

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

function opensslVerify(sod: Buffer): string {
  const der = join(dir, `sod-${randomBytes(4).toString('hex')}.der`);
  // Strip the 77 wrapper: what remains is the CMS ContentInfo.
  writeFileSync(der, parseSod(sod).contentInfoDer);
  return execFileSync(
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
    expect(() => opensslVerify(f('EF.SOD'))).not.toThrow();

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
    expect(() => opensslVerify(sod)).toThrow();
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
    expect(() => opensslVerify(lds.files.get('EF.SOD')!)).not.toThrow();
    const challenge = randomBytes(8);
    expect(
      aaVerify(dg15.decode(lds.files.get('DG15')!), challenge, aaSign(rsa.privateKey, challenge)),
    ).toEqual({ ok: true });
  });
});
