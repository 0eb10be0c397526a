/**
 * The Document Signer key on a real PKCS#11 token (SoftHSM2): an EC P-256 key generated on the
 * token (never extractable) signs EF.SOD; our passive authentication and OpenSSL's
 * `cms -verify` accept it exactly as they accept a PEM-signed SOD, in the library and via the CLI.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as graphene from 'graphene-pk11';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Pkcs11Signer,
  buildLds,
  createTestCsca,
  issueDocumentSigner,
  parseApplication,
  parseSod,
  passiveAuthentication,
  signLds,
} from '../mrtd/index.ts';
import { runCli } from './helpers/cli.ts';
import { crossCheckHashes, readLdsSecurityObject } from './helpers/lds-security-object.ts';
import { createSoftHsmToken, type SoftHsmToken } from './helpers/softhsm.ts';

const fixtures = join(import.meta.dirname, 'fixtures/mrtd');
let token: SoftHsmToken;
let dir: string;
let spki: Buffer;

/** Generates a non-extractable P-256 key pair on the token; returns the public key SPKI. */
function generateOnToken(t: SoftHsmToken, label: string): Buffer {
  const mod = graphene.Module.load(t.module, 'softhsm');
  mod.initialize();
  try {
    const slot = mod.getSlots(true).items(0);
    const session = slot.open(
      graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION,
    );
    session.login(t.userPin, graphene.UserType.USER);
    const keys = session.generateKeyPair(
      graphene.KeyGenMechanism.EC,
      {
        keyType: graphene.KeyType.EC,
        token: true,
        verify: true,
        label,
        paramsEC: Buffer.from('06082a8648ce3d030107', 'hex'), // prime256v1
      },
      {
        keyType: graphene.KeyType.EC,
        token: true,
        sign: true,
        private: true,
        sensitive: true,
        extractable: false,
        label,
      },
    );
    // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point 04||X||Y.
    const point = keys.publicKey.getAttribute({ pointEC: null }).pointEC as Buffer;
    const raw = point.subarray(point.length - 65);
    session.logout();
    session.close();
    const jwk = {
      kty: 'EC',
      crv: 'P-256',
      x: raw.subarray(1, 33).toString('base64url'),
      y: raw.subarray(33).toString('base64url'),
    };
    return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' });
  } finally {
    mod.finalize();
  }
}

beforeAll(() => {
  token = createSoftHsmToken('ds-token');
  dir = mkdtempSync(join(tmpdir(), 'mrtd-hsm-'));
  spki = generateOnToken(token, 'DS-2026');
});
afterAll(() => {
  token.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('Document Signer key on SoftHSM2', () => {
  it('signs an SOD that passive authentication and OpenSSL accept', async () => {
    const csca = await createTestCsca({ country: 'PE' });
    const ds = await issueDocumentSigner(csca, spki, { country: 'PE' });
    const app = parseApplication(
      JSON.parse(readFileSync(join(fixtures, 'application.json'), 'utf8')),
    );
    const lds = buildLds(app, { face: readFileSync(join(fixtures, 'face.jpg')) });
    const signer = Pkcs11Signer.fromUri(
      `pkcs11:token=ds-token;object=DS-2026?module-path=${token.module}&pin-value=${token.userPin}`,
    );
    expect(signer.keyType).toBe('ec');
    try {
      await signLds(lds, { signer, dsCertificate: ds.certificateDer });
    } finally {
      signer.close();
    }
    const report = await passiveAuthentication({ files: lds.files, cscas: [csca.certificatePem] });
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    writeFileSync(join(dir, 'csca.pem'), csca.certificatePem);
    writeFileSync(join(dir, 'sod.der'), parseSod(lds.files.get('EF.SOD')!).contentInfoDer);
    execFileSync(
      'openssl',
      [
        'cms',
        '-verify',
        '-inform',
        'DER',
        '-in',
        join(dir, 'sod.der'),
        '-CAfile',
        join(dir, 'csca.pem'),
        '-purpose',
        'any',
        '-out',
        join(dir, 'lso.der'),
      ],
      { stdio: 'pipe' },
    );
    // The verified content is the LDSSecurityObject we put in, and read by the test's own DER
    // walk it hashes every data group file as node:crypto does.
    const lsoDer = readFileSync(join(dir, 'lso.der'));
    expect(lsoDer.equals(parseSod(lds.files.get('EF.SOD')!).content)).toBe(true);
    const lso = readLdsSecurityObject(lsoDer);
    expect([lso.hash, [...lso.hashes.keys()]]).toEqual(['sha256', [...lds.dataGroups.keys()]]);
    expect(crossCheckHashes(lso, lds.files)).toEqual([]);
  });

  it('refuses a wrong PIN and an unknown key label with clear errors', () => {
    expect(() =>
      Pkcs11Signer.fromUri(
        `pkcs11:token=ds-token;object=DS-2026?module-path=${token.module}&pin-value=0000`,
      ),
    ).toThrow(/wrong PIN/);
    expect(() =>
      Pkcs11Signer.fromUri(
        `pkcs11:token=ds-token;object=NOPE?module-path=${token.module}&pin-value=${token.userPin}`,
      ),
    ).toThrow(/found 0/);
    expect(() =>
      Pkcs11Signer.fromUri(`pkcs11:token=other?module-path=${token.module}&pin-value=1`),
    ).toThrow(/no PKCS#11 token labelled "other"/);
  });

  it('station lds build accepts a PKCS#11 URI as --ds-key', async () => {
    const pki = join(dir, 'pki');
    expect((await runCli(['pki', 'init', '--test', '--out', pki])).code).toBe(0);
    writeFileSync(
      join(dir, 'ds-hsm.pub.pem'),
      createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({
        type: 'spki',
        format: 'pem',
      }),
    );
    const issue = await runCli([
      'pki',
      'issue-ds',
      '--test',
      '--csca-cert',
      join(pki, 'csca.crt'),
      '--csca-key',
      join(pki, 'csca.key'),
      '--public-key',
      join(dir, 'ds-hsm.pub.pem'),
      '--out',
      join(dir, 'ds-hsm.crt'),
    ]);
    expect(issue.stderr).toBe('');
    const uri = `pkcs11:token=ds-token;object=DS-2026?module-path=${token.module}&pin-value=${token.userPin}`;
    const build = await runCli([
      'lds',
      'build',
      '--application',
      join(fixtures, 'application.json'),
      '--out',
      join(dir, 'lds'),
      '--ds-cert',
      join(dir, 'ds-hsm.crt'),
      '--ds-key',
      uri,
    ]);
    expect(build.stderr).toBe('');
    expect(build.code).toBe(0);
    expect(build.stdout).not.toContain(token.userPin);
    const verify = await runCli([
      'lds',
      'verify',
      join(dir, 'lds'),
      '--csca',
      join(pki, 'csca.crt'),
      '--json',
    ]);
    expect(verify.code).toBe(0);
    expect((JSON.parse(verify.stdout) as { ok: boolean }).ok).toBe(true);
  });
});
