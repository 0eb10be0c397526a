import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dg1, dg2, efCom, parseSod, PemKeySigner, signSod } from '../mrtd/index.ts';
import { runCli } from './helpers/cli.ts';
import { crossCheckHashes, readLdsSecurityObject } from './helpers/lds-security-object.ts';

const fixtures = join(import.meta.dirname, 'fixtures/mrtd');
const application = join(fixtures, 'application.json');
let dir: string;
let pki: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mrtd-cli-'));
  pki = join(dir, 'pki');
  const r = await runCli(['pki', 'init', '--test', '--out', pki]);
  expect(r.code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('station mrz', () => {
  it('prints the two lines of an application', async () => {
    const r = await runCli(['mrz', application]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      'P<PERNUNEZ<DEL<RIO<<MARIA<JOSE<<<<<<<<<<<<<<',
      'PE12345675PER8503149F360313645678912<<<<<<42',
    ]);
  });

  it('prints every error on stderr with a non-zero exit', async () => {
    const bad = join(dir, 'bad.json');
    const app = JSON.parse(readFileSync(application, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      bad,
      JSON.stringify({ ...app, surname: 'Smith 3rd', sex: 'W', nationality: undefined }),
    );
    const r = await runCli(['mrz', bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    // Shape errors and MRZ rule errors are reported together, each field once.
    expect(r.err).toEqual([
      'nationality: is required',
      'surname: character "3" has no MRZ transliteration (only Latin letters, spaces, hyphens and apostrophes are accepted) (got "Smith 3rd")',
      'sex: must be F, M or X (got "W")',
    ]);
    writeFileSync(bad, JSON.stringify({ ...app, surname: 'Smith 3rd', sex: 'W' }));
    const r2 = await runCli(['mrz', bad, '--json']);
    expect(r2.code).toBe(1);
    expect(
      (JSON.parse(r2.stdout) as { errors: { field: string }[] }).errors.map((e) => e.field),
    ).toEqual(['surname', 'sex']);
    expect(r2.err[0]).toMatch(/^surname: character "3" has no MRZ transliteration/);
    expect((await runCli(['mrz', join(dir, 'missing.json')])).stderr).toMatch(
      /cannot read the application/,
    );
  });

  it('--check validates a printed MRZ and names each failing check digit', async () => {
    const mrz = join(dir, 'printed.mrz');
    writeFileSync(
      mrz,
      'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\n',
    );
    const ok = await runCli(['mrz', '--check', mrz]);
    expect(ok.code).toBe(0);
    expect(ok.out.at(-1)).toBe('MRZ valid');
    writeFileSync(
      mrz,
      'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204169ZE184226B<<<<<10\n',
    );
    const bad = await runCli(['mrz', '--check', mrz]);
    expect(bad.code).toBe(1);
    expect(bad.out.filter((l) => l.startsWith('FAIL'))).toEqual([
      'FAIL dateOfExpiry check digit (position 28): 9, expected 0',
      'FAIL composite check digit (position 44): 0, expected 3',
    ]);
  });

  it('reads the application from stdin', () => {
    const out = execFileSync('node', [join(import.meta.dirname, '../bin/station.mjs'), 'mrz'], {
      input: readFileSync(application),
      encoding: 'utf8',
    });
    expect(out.split('\n')[1]).toBe('PE12345675PER8503149F360313645678912<<<<<<42');
  });
});

describe('station pki init', () => {
  it('writes the four PEM files, keys private, TEST in the subjects', () => {
    expect(readdirSync(pki).sort()).toEqual(['csca.crt', 'csca.key', 'ds.crt', 'ds.key']);
    expect(statSync(join(pki, 'ds.key')).mode & 0o077).toBe(0);
    const text = execFileSync(
      'openssl',
      ['x509', '-in', join(pki, 'ds.crt'), '-noout', '-subject', '-issuer'],
      { encoding: 'utf8' },
    );
    expect(text).toMatch(/subject=.*OU ?= ?TEST.*CN ?= ?Document Signer TEST PE/);
    expect(text).toMatch(/issuer=.*CN ?= ?CSCA TEST PE/);
    execFileSync('openssl', ['verify', '-CAfile', join(pki, 'csca.crt'), join(pki, 'ds.crt')]);
  });

  it('refuses to run without --test and refuses to overwrite', async () => {
    expect((await runCli(['pki', 'init', '--out', join(dir, 'x')])).stderr).toMatch(
      /only a test PKI/,
    );
    const again = await runCli(['pki', 'init', '--test', '--out', pki]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists; refusing to overwrite/);
  });
});

describe('station lds build and verify', () => {
  it('builds the files, verifies them, and fails on tampering', async () => {
    const out = join(dir, 'lds');
    const build = await runCli([
      'lds',
      'build',
      '--application',
      application,
      '--out',
      out,
      '--ds-cert',
      join(pki, 'ds.crt'),
      '--ds-key',
      join(pki, 'ds.key'),
      '--aa',
      'rsa-2048',
      '--json',
    ]);
    expect(build.stderr).toBe('');
    expect(build.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'AA.key',
      'DG1.bin',
      'DG11.bin',
      'DG12.bin',
      'DG15.bin',
      'DG2.bin',
      'DG7.bin',
      'EF.COM.bin',
      'EF.SOD.bin',
    ]);
    expect(dg1.decode(readFileSync(join(out, 'DG1.bin')))).toHaveLength(88);
    expect(
      dg2
        .decode(readFileSync(join(out, 'DG2.bin')))[0]!
        .image.equals(readFileSync(join(fixtures, 'face.jpg'))),
    ).toBe(true);

    const ok = await runCli(['lds', 'verify', out, '--csca', join(pki, 'csca.crt')]);
    expect(ok.code).toBe(0);
    expect(ok.out.at(-1)).toBe('passive authentication: PASSED');

    // OpenSSL, independently.
    writeFileSync(
      join(dir, 'sod.der'),
      parseSod(readFileSync(join(out, 'EF.SOD.bin'))).contentInfoDer,
    );
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
        join(pki, 'csca.crt'),
        '-purpose',
        'any',
        '-out',
        join(dir, 'lso.der'),
      ],
      { stdio: 'pipe' },
    );
    // The security object OpenSSL verified, read by the test's own DER walk, hashes each file
    // on disk as node:crypto does, and no other.
    const lso = readLdsSecurityObject(readFileSync(join(dir, 'lso.der')));
    const onDisk = new Map(
      readdirSync(out)
        .filter((n) => n.endsWith('.bin'))
        .map((n) => [n.slice(0, -4), readFileSync(join(out, n))] as const),
    );
    expect([lso.hash, [...lso.hashes.keys()]]).toEqual(['sha256', [1, 2, 7, 11, 12, 15]]);
    expect(crossCheckHashes(lso, onDisk)).toEqual([]);

    // A changed DG1 and the printed MRZ of someone else.
    const tampered = join(dir, 'tampered');
    const refused = await runCli([
      'lds',
      'build',
      '--application',
      application,
      '--out',
      out,
      '--ds-cert',
      join(pki, 'ds.crt'),
      '--ds-key',
      join(pki, 'ds.key'),
    ]);
    expect(refused.stderr).toMatch(/is not empty/);
    execFileSync('cp', ['-r', out, tampered]);
    const d1 = readFileSync(join(tampered, 'DG1.bin'));
    d1[10] = 'X'.charCodeAt(0);
    writeFileSync(join(tampered, 'DG1.bin'), d1);
    writeFileSync(
      join(dir, 'printed.txt'),
      'P<PERNUNEZ<DEL<RIO<<MARIA<JOSE<<<<<<<<<<<<<<\nPE12345675PER8503149F360313645678912<<<<<<42\n',
    );
    const bad = await runCli([
      'lds',
      'verify',
      tampered,
      '--csca',
      join(pki, 'csca.crt'),
      '--mrz',
      join(dir, 'printed.txt'),
      '--json',
    ]);
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout) as { ok: boolean; checks: { id: string; ok: boolean }[] };
    expect(report.checks.filter((c) => !c.ok).map((c) => c.id)).toEqual([
      'dg.1.hash',
      'dg1.printed',
    ]);
  });

  it('fails an LDS that leaves out DG1 or EF.COM, whatever printed MRZ is given', async () => {
    const full = join(dir, 'full');
    const build = await runCli([
      'lds',
      'build',
      '--application',
      application,
      '--out',
      full,
      '--ds-cert',
      join(pki, 'ds.crt'),
      '--ds-key',
      join(pki, 'ds.key'),
    ]);
    expect(build.code).toBe(0);
    // Re-signed by the same Document Signer over DG2 only, with an EF.COM that agrees: every
    // hash and the signature are right, but there is no MRZ on the chip.
    const noDg1 = join(dir, 'no-dg1');
    mkdirSync(noDg1);
    const dg2Bytes = readFileSync(join(full, 'DG2.bin'));
    writeFileSync(join(noDg1, 'DG2.bin'), dg2Bytes);
    writeFileSync(
      join(noDg1, 'EF.COM.bin'),
      efCom.encode({ ldsVersion: '0107', unicodeVersion: '040000', dataGroups: [2] }),
    );
    const dsDer = new X509Certificate(readFileSync(join(pki, 'ds.crt'))).raw;
    writeFileSync(
      join(noDg1, 'EF.SOD.bin'),
      await signSod(new Map([[2, dg2Bytes]]), {
        signer: new PemKeySigner(readFileSync(join(pki, 'ds.key'), 'utf8')),
        dsCertificate: dsDer,
      }),
    );
    writeFileSync(
      join(dir, 'bogus.mrz'),
      'P<UTOBOGUS<<NOBODY<<<<<<<<<<<<<<<<<<<<<<<<<<\nX000000000UTO0001010M3001010<<<<<<<<<<<<<<00\n',
    );
    const verify = (d: string, ...extra: string[]): ReturnType<typeof runCli> =>
      runCli(['lds', 'verify', d, '--csca', join(pki, 'csca.crt'), ...extra]);
    const r = await verify(noDg1, '--mrz', join(dir, 'bogus.mrz'));
    expect(r.code).toBe(1);
    expect(r.out.filter((l) => l.startsWith('FAIL'))).toEqual([
      'FAIL dg1.present        DG1 (the MRZ) is missing; it is mandatory',
      'FAIL dg1.printed        no readable DG1 to compare the printed MRZ with',
    ]);
    expect(r.out.at(-1)).toBe('passive authentication: FAILED');

    // Without EF.COM: named as missing.
    const noCom = join(dir, 'no-com');
    execFileSync('cp', ['-r', full, noCom]);
    rmSync(join(noCom, 'EF.COM.bin'));
    const r2 = await verify(noCom, '--json');
    expect(r2.code).toBe(1);
    const report = JSON.parse(r2.stdout) as { checks: { id: string; ok: boolean }[] };
    expect(report.checks.filter((c) => !c.ok).map((c) => c.id)).toEqual(['com.present']);
  });

  it('writes nothing for an invalid application or a bad image', async () => {
    const app = JSON.parse(readFileSync(application, 'utf8')) as Record<string, unknown>;
    const badApp = join(dir, 'bad-app.json');
    writeFileSync(badApp, JSON.stringify({ ...app, dateOfExpiry: '2036-02-30' }));
    const r = await runCli([
      'lds',
      'build',
      '--application',
      badApp,
      '--out',
      join(dir, 'none'),
      '--ds-cert',
      join(pki, 'ds.crt'),
      '--ds-key',
      join(pki, 'ds.key'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dateOfExpiry: is not a calendar date/);
    copyFileSync(join(fixtures, 'application.json'), join(dir, 'app.json'));
    writeFileSync(join(dir, 'face.jpg'), 'not an image');
    copyFileSync(join(fixtures, 'signature.jpg'), join(dir, 'signature.jpg'));
    const r2 = await runCli([
      'lds',
      'build',
      '--application',
      join(dir, 'app.json'),
      '--out',
      join(dir, 'none'),
      '--ds-cert',
      join(pki, 'ds.crt'),
      '--ds-key',
      join(pki, 'ds.key'),
    ]);
    expect(r2.stderr).toMatch(/neither JPEG nor JPEG 2000/);
    expect(readdirSync(dir)).not.toContain('none');
  });

  it('--force replaces an earlier LDS, never a directory holding other files', async () => {
    const build = (out: string, ...extra: string[]): ReturnType<typeof runCli> =>
      runCli([
        'lds',
        'build',
        '--application',
        application,
        '--out',
        out,
        '--ds-cert',
        join(pki, 'ds.crt'),
        '--ds-key',
        join(pki, 'ds.key'),
        ...extra,
      ]);
    const out = join(dir, 'again');
    expect((await build(out, '--aa', 'ecdsa-p256')).code).toBe(0);
    const first = readFileSync(join(out, 'EF.SOD.bin'));
    const refused = await build(out);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is not empty; refusing to mix LDS files/);
    expect((await build(out, '--force')).code).toBe(0);
    expect(readFileSync(join(out, 'EF.SOD.bin')).equals(first)).toBe(false);
    expect(readdirSync(out)).not.toContain('AA.key');

    const mixed = join(dir, 'precious');
    expect((await build(mixed)).code).toBe(0);
    writeFileSync(join(mixed, 'notes.txt'), 'not ours to delete');
    const r = await build(mixed, '--force');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds files that are not LDS output \(notes\.txt\)/);
    expect(readFileSync(join(mixed, 'notes.txt'), 'utf8')).toBe('not ours to delete');
  });

  it('writes nothing when the key is not the Document Signer certificate key, or the certificate is unreadable', async () => {
    const build = (cert: string, key: string): ReturnType<typeof runCli> =>
      runCli([
        'lds',
        'build',
        '--application',
        application,
        '--out',
        join(dir, 'mismatch'),
        '--ds-cert',
        cert,
        '--ds-key',
        key,
      ]);
    // The CSCA key signs, but the SOD names the DS certificate: no gate would accept it.
    const r = await build(join(pki, 'ds.crt'), join(pki, 'csca.key'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/signing key does not match the Document Signer certificate/);
    writeFileSync(join(dir, 'garbage.crt'), 'not a certificate');
    const r2 = await build(join(dir, 'garbage.crt'), join(pki, 'ds.key'));
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/certificate/i);
    expect(readdirSync(dir)).not.toContain('mismatch');
  });
});
