import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApplicationError, parseApplication } from './application.ts';

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '../test/fixtures/mrtd/application.json'), 'utf8'),
) as Record<string, unknown>;
/** The fixture without its DG12 date of issue, issued on a fixed day. */
const { additionalDocumentDetails: _dg12, ...undated } = fixture;
const issuedOn = new Date('2026-12-02T10:00:00Z');

function errorsOf(json: unknown): ApplicationError['errors'] {
  try {
    parseApplication(json, { issuedOn });
  } catch (e) {
    expect(e).toBeInstanceOf(ApplicationError);
    return (e as ApplicationError).errors;
  }
  return expect.fail('the application was accepted');
}

describe('dates the MRZ cannot write unambiguously are refused, naming the field', () => {
  it('accepts the fixture and dates at the edges of the window', () => {
    expect(parseApplication(fixture).dateOfBirth).toBe('1985-03-14');
    const edges = { ...undated, dateOfBirth: '1926-12-03', dateOfExpiry: '2076-12-01' };
    expect(parseApplication(edges, { issuedOn }).dateOfExpiry).toBe('2076-12-01');
    const today = { ...undated, dateOfBirth: '2026-12-02', dateOfExpiry: '2026-12-03' };
    expect(parseApplication(today, { issuedOn }).dateOfBirth).toBe('2026-12-02');
  });

  it('refuses a date of birth in 2099 (its MRZ 99 reads as 1999)', () => {
    expect(errorsOf({ ...undated, dateOfBirth: '2099-01-01', dateOfExpiry: '2109-01-01' })).toEqual(
      [
        {
          field: 'dateOfBirth',
          value: '2099-01-01',
          reason: 'is after the date of issue (today, 2026-12-02)',
        },
        {
          field: 'dateOfExpiry',
          value: '2109-01-01',
          reason:
            "is 50 years or more after the date of issue (today, 2026-12-02): the MRZ's two-digit year would read as a century earlier",
        },
      ],
    );
  });

  it('refuses an expiry in 2126 (its MRZ 26 reads as 2026)', () => {
    const errors = errorsOf({ ...undated, dateOfExpiry: '2126-03-13' });
    expect(errors.map((e) => e.field)).toEqual(['dateOfExpiry']);
    expect(errors[0]!.reason).toMatch(/^is 50 years or more after the date of issue/);
  });

  it('refuses a birth 100 years before issue, and an expiry not after it', () => {
    expect(errorsOf({ ...undated, dateOfBirth: '1926-12-02' })[0]).toMatchObject({
      field: 'dateOfBirth',
      reason: expect.stringMatching(/^is 100 years or more before the date of issue/),
    });
    expect(errorsOf({ ...undated, dateOfExpiry: '2026-12-02' })[0]).toMatchObject({
      field: 'dateOfExpiry',
      reason: 'is not after the date of issue (today, 2026-12-02)',
    });
  });

  it("measures from the application's own date of issue when it gives one", () => {
    const dg12 = { dateOfIssue: '2000-01-01' };
    const errors = errorsOf({
      ...fixture,
      dateOfExpiry: '2060-01-01',
      additionalDocumentDetails: dg12,
    });
    expect(errors.map((e) => e.field)).toEqual(['dateOfExpiry']);
    expect(errors[0]!.reason).toMatch(/^is 50 years or more after the date of issue 2000-01-01:/);
  });

  it('reports window errors with shape errors in one pass', () => {
    const errors = errorsOf({ ...undated, sex: 7, dateOfBirth: '2099-01-01' });
    expect(errors.map((e) => e.field).sort()).toEqual(['dateOfBirth', 'dateOfExpiry', 'sex']);
  });
});

describe('errors never echo more than the field they name', () => {
  it('names an unknown key without its value or the rest of the application', () => {
    const e = (() => {
      try {
        parseApplication({ ...fixture, nickname: 'Majo', additionalPersonalDetails: { pin: '1' } });
      } catch (x) {
        return x as ApplicationError;
      }
    })();
    expect(e).toBeInstanceOf(ApplicationError);
    expect(e!.errors).toEqual([
      {
        field: 'additionalPersonalDetails.pin',
        value: '',
        reason: 'is not a field of an application (docs/application-format.md)',
      },
      {
        field: 'nickname',
        value: '',
        reason: 'is not a field of an application (docs/application-format.md)',
      },
    ]);
    for (const secret of ['Majo', 'PE1234567', 'Núñez', '1985-03-14'])
      expect(e!.message).not.toContain(secret);
  });

  it('does not echo an object given where a field was expected', () => {
    const errors = errorsOf({ ...undated, additionalPersonalDetails: ['Lima', 'Perú'] });
    expect(errors).toEqual([
      expect.objectContaining({ field: 'additionalPersonalDetails', value: '' }),
    ]);
    expect(errorsOf(['Núñez'])[0]).toMatchObject({ field: '(application)', value: '' });
  });
});

describe('every text field has a length limit', () => {
  it('refuses a 10 000-character name or document number, naming the field', () => {
    const long = 'A'.repeat(10_000);
    expect(errorsOf({ ...undated, surname: long }).map((e) => e.field)).toEqual(['surname']);
    expect(errorsOf({ ...undated, documentNumber: long })[0]).toMatchObject({
      field: 'documentNumber',
      reason: 'Too big: expected string to have <=64 characters',
    });
    expect(parseApplication({ ...undated, surname: 'A'.repeat(200) }, { issuedOn }).surname).toBe(
      'A'.repeat(200),
    );
  });
});
