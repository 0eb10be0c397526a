/**
 * Specimen MRZs of ICAO Doc 9303 Part 4 (Eighth Edition, 2021, Appendix A, TD3 specimen of
 * "ERIKSSON, ANNA MARIA", Utopia) and Part 11 Appendix D (the older specimen with document
 * number L898902C<), plus the check digit examples of Part 3 section 4.9.
 */
import { describe, expect, it } from 'vitest';
import {
  MrzError,
  checkDigit,
  encodeTd3,
  nameField,
  parseTd3,
  transliterateName,
  type MrzInput,
} from './mrz.ts';

const SPECIMEN_P4 = [
  'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<',
  'L898902C36UTO7408122F1204159ZE184226B<<<<<10',
] as const;
const SPECIMEN_P11 = [
  'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<',
  'L898902C<3UTO6908061F9406236ZE184226B<<<<<14',
] as const;

const anna: MrzInput = {
  documentCode: 'P',
  issuingState: 'UTO',
  surname: 'Eriksson',
  givenNames: 'Anna María',
  documentNumber: 'L898902C3',
  nationality: 'UTO',
  dateOfBirth: '1974-08-12',
  sex: 'F',
  dateOfExpiry: '2012-04-15',
  personalNumber: 'ZE184226B',
};

describe('check digits (Part 3 section 4.9)', () => {
  it('computes the published examples', () => {
    // Part 3 worked example: date 520727 has check digit 3.
    expect(checkDigit('520727')).toBe('3');
    expect(checkDigit('L898902C<')).toBe('3');
    expect(checkDigit('690806')).toBe('1');
    expect(checkDigit('940623')).toBe('6');
    expect(checkDigit('L898902C3')).toBe('6');
  });
});

describe('TD3 generation', () => {
  it('reproduces the Part 4 specimen', () => {
    const m = encodeTd3(anna);
    expect([m.line1, m.line2]).toEqual(SPECIMEN_P4);
    expect(m.nameTruncated).toBe(false);
  });

  it('reproduces the Part 11 Appendix D specimen (8-character document number)', () => {
    const m = encodeTd3({
      ...anna,
      documentNumber: 'L898902C',
      dateOfBirth: '1969-08-06',
      dateOfExpiry: '1994-06-23',
    });
    expect([m.line1, m.line2]).toEqual(SPECIMEN_P11);
  });

  it('transliterates per the Part 3 recommended table', () => {
    expect(transliterateName('Muñoz Peña')).toEqual({ value: 'MUNOZ<PENA' });
    expect(transliterateName('Müller-Lüdenscheidt')).toEqual({ value: 'MUELLER<LUEDENSCHEIDT' });
    expect(transliterateName("O'Brien")).toEqual({ value: 'OBRIEN' });
    expect(transliterateName('Ångström Øre Æbelø Straße')).toEqual({
      value: 'AANGSTROEM<OERE<AEBELOE<STRASSE',
    });
    expect(transliterateName('José  Ñandú  ')).toEqual({ value: 'JOSE<NANDU' });
    expect(transliterateName('Çelik Ğürsel Łukasz')).toEqual({ value: 'CELIK<GUERSEL<LUKASZ' });
    expect(transliterateName('Иван')).toHaveProperty('reason');
  });

  it('truncates the given names first, then the surname', () => {
    const n = nameField(
      'DE LA CRUZ<GONZALEZ<FERNANDEZ'.replace(/ /g, '<'),
      'MARIA<DEL<CARMEN<ALEJANDRA',
    );
    expect(n.field).toHaveLength(39);
    expect(n.field).toBe('DE<LA<CRUZ<GONZALEZ<FERNANDEZ<<MARIA<DE');
    expect(n.truncated).toBe(true);
    const long = nameField('A'.repeat(45), 'BERTA');
    expect(long.field).toBe('A'.repeat(36) + '<<B');
    const cutAtFiller = nameField('X'.repeat(32), 'ANNA<MARIA');
    expect(cutAtFiller.field).toBe('X'.repeat(32) + '<<ANNA<');
  });

  it('handles sex X, a missing personal number and a two-letter code', () => {
    const m = encodeTd3({ ...anna, sex: 'X', personalNumber: undefined, documentCode: 'PD' });
    expect(m.line1.startsWith('PDUTO')).toBe(true);
    expect(m.line2[20]).toBe('<');
    expect(m.line2.slice(28, 43)).toBe('<'.repeat(15));
    expect(parseTd3(m.line1, m.line2).valid).toBe(true);
  });

  it('reports every invalid field with field, value and reason', () => {
    try {
      encodeTd3({
        ...anna,
        surname: 'Smith2',
        documentNumber: 'AB-123',
        dateOfBirth: '1990-02-30',
        sex: 'Q' as 'F',
        issuingState: 'PERU',
        personalNumber: 'X'.repeat(15),
      });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MrzError);
      const fields = (e as MrzError).errors.map((x) => x.field).sort();
      expect(fields).toEqual([
        'dateOfBirth',
        'documentNumber',
        'issuingState',
        'personalNumber',
        'sex',
        'surname',
      ]);
      const dob = (e as MrzError).errors.find((x) => x.field === 'dateOfBirth')!;
      expect(dob).toEqual({
        field: 'dateOfBirth',
        value: '1990-02-30',
        reason: 'is not a calendar date',
      });
    }
    expect(() => encodeTd3({ ...anna, documentNumber: 'ABCDEFGHIJ' })).toThrow(/at most 9/);
    expect(() => encodeTd3({ ...anna, dateOfExpiry: '1970-01-01' })).toThrow(
      /after the date of birth/,
    );
  });
});

describe('TD3 parsing', () => {
  it('parses the specimen and every check passes', () => {
    const p = parseTd3(SPECIMEN_P4.join('\n'));
    expect(p.valid).toBe(true);
    expect(p.surname).toBe('ERIKSSON');
    expect(p.givenNames).toBe('ANNA MARIA');
    expect(p.documentNumber).toBe('L898902C3');
    expect(p.personalNumber).toBe('ZE184226B');
    expect(p.checks.map((c) => c.ok)).toEqual([true, true, true, true, true]);
  });

  it('reports each failing check digit', () => {
    // Date of birth altered: its own digit and the composite fail, the others hold.
    const line2 = SPECIMEN_P4[1].slice(0, 13) + '740813' + SPECIMEN_P4[1].slice(19);
    const p = parseTd3(SPECIMEN_P4[0], line2);
    expect(p.valid).toBe(false);
    const failing = p.checks
      .filter((c) => !c.ok)
      .map((c) => [c.name, c.position, c.expected, c.actual]);
    expect(failing).toEqual([
      ['dateOfBirth', 20, '3', '2'],
      ['composite', 44, '7', '0'],
    ]);
  });

  it('reports structural problems', () => {
    const p = parseTd3('P<UTOERIKSSON', 'l898');
    expect(p.valid).toBe(false);
    expect(p.problems.join(' ')).toMatch(/line 1 has 13 characters/);
    expect(p.problems.join(' ')).toMatch(/outside A-Z/);
  });
});
