/**
 * Property tests: random valid applications go through MRZ → LDS → EF.SOD → decode and come
 * back with identical fields (and pass passive authentication); random invalid applications
 * are refused with an error naming the broken field, never with an MRZ.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ApplicationError,
  type Application,
  buildLds,
  mrzOf,
  parseApplication,
  signLds,
} from './application.ts';
import { dg1, dg11, dg12, dg2, dg7, efCom } from './lds.ts';
import { parseTd3, transliterateName } from './mrz.ts';
import { passiveAuthentication } from './passive-auth.ts';
import { createTestPki } from './pki.ts';
import { PemKeySigner } from './signer.ts';

const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');
const images = [readFileSync(join(fixtures, 'face.jpg')), readFileSync(join(fixtures, 'face.jp2'))];
const signatureImage = readFileSync(join(fixtures, 'signature.jpg'));
let pki: Awaited<ReturnType<typeof createTestPki>>;
let signer: PemKeySigner;

beforeAll(async () => {
  pki = await createTestPki({ country: 'PE' });
  signer = new PemKeySigner(pki.ds.privateKeyPem);
});

const letters = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzÁÉÍÓÚÑÜÖÄÅÇØàèìòùñüß'];
const word = fc
  .array(fc.constantFrom(...letters), { minLength: 1, maxLength: 14 })
  .map((a) => a.join(''));
const name = fc
  .tuple(fc.array(word, { minLength: 1, maxLength: 4 }), fc.constantFrom(' ', '-', " '"))
  .map(([ws, sep]) => ws.join(sep));
const alnum = (min: number, max: number): fc.Arbitrary<string> =>
  fc
    .array(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'), {
      minLength: min,
      maxLength: max,
    })
    .map((a) => a.join(''));
const state = fc
  .array(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), { minLength: 3, maxLength: 3 })
  .map((a) => a.join(''));
/**
 * Names too long for the MRZ's 39 positions, up to the 200 characters an application allows
 * (docs/application-format.md): a surname of 37 or more cuts the given names to one letter.
 */
const longName = fc
  .array(word, { minLength: 3, maxLength: 16, size: 'max' })
  .map((ws) => ws.join(' '))
  .filter((n) => n.length <= 200);
/**
 * DG11/DG12 texts up to the 500 characters an application allows, so that their UTF-8 takes
 * each BER length form: under 128 bytes, 128-255 (`81 xx`), 256 and more (`82 xx xx`); the
 * boundaries in ASCII, where characters are bytes. `name` alone stays under 128 bytes.
 */
const detailText = fc.oneof(
  name,
  fc
    .constantFrom(127, 128, 255, 256, 500)
    .chain((n) =>
      fc.array(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ abc'), {
        minLength: n,
        maxLength: n,
      }),
    )
    .map((a) => a.join('')),
  fc
    .array(fc.constantFrom(...letters, ' '), { minLength: 1, maxLength: 500, size: 'max' })
    .map((a) => a.join('')),
);
const day = fc.date({
  min: new Date('1900-01-01T00:00:00Z'),
  max: new Date('2099-12-31T00:00:00Z'),
  noInvalidDate: true,
});
const iso = (d: Date): string => d.toISOString().slice(0, 10);
/** Issued the day before it expires: inside the MRZ's date window for any generated dates. */
const issuedOn = (app: Application): Date => new Date(Date.parse(app.dateOfExpiry) - 86_400_000);

const validApp: fc.Arbitrary<Application> = fc
  .record({
    documentCode: fc.constantFrom('P', 'PD', 'PS'),
    issuingState: state,
    surname: fc.oneof({ arbitrary: name, weight: 2 }, { arbitrary: longName, weight: 1 }),
    givenNames: fc.oneof(
      { arbitrary: name, weight: 2 },
      { arbitrary: longName, weight: 1 },
      { arbitrary: fc.constant(''), weight: 1 },
    ),
    // The full 9 characters and the full 14 (no filler, check digit over every position) on
    // purpose: drawn from 1-9 and 1-14, they came up 1 time in 10 and never.
    documentNumber: fc.oneof(alnum(1, 9), alnum(9, 9)),
    nationality: state,
    birth: day,
    years: fc.integer({ min: 1, max: 20 }),
    sex: fc.constantFrom('F', 'M', 'X'),
    personalNumber: fc.option(fc.oneof(alnum(1, 14), alnum(14, 14)), { nil: undefined }),
    placeOfBirth: fc.option(detailText, { nil: undefined }),
    issuingAuthority: fc.option(detailText, { nil: undefined }),
  })
  .filter((r) => r.birth.getUTCFullYear() + r.years <= 2099)
  .map((r) => {
    const expiry = new Date(r.birth);
    expiry.setUTCFullYear(expiry.getUTCFullYear() + r.years);
    const app: Application = {
      documentCode: r.documentCode,
      issuingState: r.issuingState,
      surname: r.surname,
      givenNames: r.givenNames,
      documentNumber: r.documentNumber,
      nationality: r.nationality,
      dateOfBirth: iso(r.birth),
      dateOfExpiry: iso(expiry),
      sex: r.sex,
      personalNumber: r.personalNumber,
    };
    if (r.placeOfBirth) app.additionalPersonalDetails = { placeOfBirth: r.placeOfBirth };
    if (r.issuingAuthority)
      app.additionalDocumentDetails = { issuingAuthority: r.issuingAuthority };
    return app;
  })
  .filter((a) => a.dateOfExpiry > a.dateOfBirth);

describe('round trip of random valid applications', () => {
  it('application → LDS → SOD → decode gives identical fields', async () => {
    await fc.assert(
      fc.asyncProperty(
        validApp,
        fc.nat({ max: 1 }),
        fc.boolean(),
        async (app, img, withSignature) => {
          const parsed = parseApplication(JSON.parse(JSON.stringify(app)), {
            issuedOn: issuedOn(app),
          });
          const lds = buildLds(parsed, {
            face: images[img]!,
            signature: withSignature ? signatureImage : undefined,
          });
          await signLds(lds, { signer, dsCertificate: pki.ds.certificateDer });
          const m = mrzOf(parsed);
          const mrz = dg1.decode(lds.files.get('DG1')!);
          expect(mrz).toBe(m.line1 + m.line2);
          const p = parseTd3(mrz);
          expect(p.valid).toBe(true);
          expect(p.documentCode).toBe(app.documentCode);
          expect(p.issuingState).toBe(app.issuingState);
          expect(p.nationality).toBe(app.nationality);
          expect(p.documentNumber).toBe(app.documentNumber);
          expect(p.dateOfBirth).toBe(app.dateOfBirth.replace(/-/g, '').slice(2));
          expect(p.dateOfExpiry).toBe(app.dateOfExpiry.replace(/-/g, '').slice(2));
          expect(p.sex).toBe(app.sex);
          expect(p.personalNumber).toBe(app.personalNumber ?? '');
          const sur = transliterateName(app.surname) as { value: string };
          const giv = transliterateName(app.givenNames) as { value: string };
          if (!m.nameTruncated) {
            expect(p.surname).toBe(sur.value.replace(/</g, ' '));
            expect(p.givenNames).toBe(giv.value.replace(/</g, ' '));
          } else {
            // Truncation only ever shortens: each printed name is a prefix of the full one.
            expect(sur.value.replace(/</g, ' ').startsWith(p.surname)).toBe(true);
            expect(giv.value.replace(/</g, ' ').startsWith(p.givenNames)).toBe(true);
            expect(p.surname.length).toBeGreaterThan(0);
          }
          const face = dg2.decode(lds.files.get('DG2')!)[0]!;
          expect(face.image.equals(images[img]!)).toBe(true);
          expect(face.format).toBe(img === 0 ? 'jpeg' : 'jpeg2000');
          if (withSignature)
            expect(dg7.decode(lds.files.get('DG7')!)[0]!.equals(signatureImage)).toBe(true);
          if (app.additionalPersonalDetails)
            expect(dg11.decode(lds.files.get('DG11')!)).toEqual(app.additionalPersonalDetails);
          else expect(lds.files.has('DG11')).toBe(false);
          if (app.additionalDocumentDetails)
            expect(dg12.decode(lds.files.get('DG12')!)).toEqual(app.additionalDocumentDetails);
          expect(efCom.decode(lds.files.get('EF.COM')!).dataGroups).toEqual([
            ...lds.dataGroups.keys(),
          ]);
          const pa = await passiveAuthentication({
            files: lds.files,
            cscas: [pki.csca.certificatePem],
            printedMrz: mrz,
          });
          expect(pa.ok).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});

type Corruption = { field: string; apply: (a: Application) => Application };
const corruptions: fc.Arbitrary<Corruption> = fc.oneof(
  fc.constantFrom<Corruption>(
    { field: 'surname', apply: (a) => ({ ...a, surname: `${a.surname}7` }) },
    { field: 'surname', apply: (a) => ({ ...a, surname: 'Иванов' }) },
    { field: 'surname', apply: (a) => ({ ...a, surname: ' - ' }) },
    { field: 'givenNames', apply: (a) => ({ ...a, givenNames: `${a.givenNames}@` }) },
    { field: 'documentNumber', apply: (a) => ({ ...a, documentNumber: `${a.documentNumber}-1` }) },
    { field: 'documentNumber', apply: (a) => ({ ...a, documentNumber: 'ABCDEFGHIJ' }) },
    { field: 'documentNumber', apply: (a) => ({ ...a, documentNumber: '' }) },
    {
      field: 'dateOfBirth',
      apply: (a) => ({
        ...a,
        dateOfBirth: a.dateOfBirth.slice(0, 5) + '13' + a.dateOfBirth.slice(7),
      }),
    },
    {
      field: 'dateOfBirth',
      apply: (a) => ({ ...a, dateOfBirth: a.dateOfBirth.replace(/-/g, '') }),
    },
    {
      field: 'dateOfExpiry',
      apply: (a) => ({ ...a, dateOfExpiry: a.dateOfExpiry.slice(0, 8) + '32' }),
    },
    { field: 'dateOfExpiry', apply: (a) => ({ ...a, dateOfExpiry: a.dateOfBirth }) },
    { field: 'sex', apply: (a) => ({ ...a, sex: 'U' }) },
    { field: 'issuingState', apply: (a) => ({ ...a, issuingState: 'PERU' }) },
    { field: 'nationality', apply: (a) => ({ ...a, nationality: 'P3R' }) },
    { field: 'documentCode', apply: (a) => ({ ...a, documentCode: 'V' }) },
    { field: 'personalNumber', apply: (a) => ({ ...a, personalNumber: '123456789012345' }) },
  ),
);

describe('random invalid applications', () => {
  it('are refused with an error naming the field, never an MRZ', () => {
    fc.assert(
      fc.property(validApp, corruptions, (app, c) => {
        const bad = c.apply(app);
        let mrz: unknown;
        try {
          mrz = mrzOf(
            parseApplication(JSON.parse(JSON.stringify(bad)), { issuedOn: issuedOn(app) }),
          );
        } catch (e) {
          expect(e).toBeInstanceOf(ApplicationError);
          const errors = (e as ApplicationError).errors;
          expect(errors.map((x) => x.field)).toContain(c.field);
          for (const x of errors) expect(x.reason.length).toBeGreaterThan(0);
          return;
        }
        expect.fail(`invalid ${c.field} produced an MRZ: ${JSON.stringify(mrz)}`);
      }),
      { numRuns: 300 },
    );
  });
});
