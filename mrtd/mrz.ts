/**
 * TD3 (passport) machine readable zone to ICAO Doc 9303 Parts 3 and 4: transliteration of
 * names, check digits, the two 44-character lines, and parsing with every check reported.
 */

/** One thing wrong with one field: which field, the value given, and why it cannot be encoded. */
export interface MrzFieldError {
  field: string;
  value: string;
  reason: string;
}

/** Thrown when an application cannot be encoded; `errors` lists every problem found. */
export class MrzError extends Error {
  constructor(readonly errors: MrzFieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.reason} (got ${JSON.stringify(e.value)})`).join('; '));
    this.name = 'MrzError';
  }
}

/** The holder and document fields a TD3 MRZ is made from (names as printed, dates ISO). */
export interface MrzInput {
  /** `P` or `P` plus one letter chosen by the issuing state (e.g. `PD` for diplomatic). */
  documentCode: string;
  /** Three-letter ICAO code of the issuing state (e.g. `PER`; Germany's `D` is allowed). */
  issuingState: string;
  surname: string;
  givenNames: string;
  /** Up to 9 characters, A-Z and 0-9. */
  documentNumber: string;
  nationality: string;
  /** ISO `YYYY-MM-DD`. */
  dateOfBirth: string;
  sex: 'F' | 'M' | 'X';
  /** ISO `YYYY-MM-DD`. */
  dateOfExpiry: string;
  /** Optional data (personal number), up to 14 characters A-Z, 0-9. */
  personalNumber?: string | undefined;
}

export const TD3_LINE_LENGTH = 44;
export const TD3_NAME_LENGTH = 39;

const WEIGHTS = [7, 3, 1] as const;

function charValue(c: string): number {
  if (c === '<') return 0;
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 90) return code - 55;
  throw new RangeError(`character ${JSON.stringify(c)} is not allowed in an MRZ`);
}

/** The check digit of Doc 9303 Part 3 section 4.9 (weights 7, 3, 1 repeating, modulus 10). */
export function checkDigit(data: string): string {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += charValue(data[i]!) * WEIGHTS[i % 3]!;
  return String(sum % 10);
}

/**
 * Multi-letter transliterations of the Part 3 table of Latin national characters (section 6,
 * "recommended transliteration"). Letters not listed here lose their diacritic (É→E, Ç→C, ...).
 * Ñ is written N (the table's recommended value; the alternative NXX is not used) and Ü is
 * written UE, as the table recommends.
 */
const SPECIAL: Record<string, string> = {
  Ä: 'AE',
  Å: 'AA',
  Æ: 'AE',
  Ö: 'OE',
  Ø: 'OE',
  Œ: 'OE',
  Ü: 'UE',
  ß: 'SS',
  ẞ: 'SS',
  Þ: 'TH',
  Ð: 'D',
  Đ: 'D',
  Ħ: 'H',
  Ł: 'L',
  Ŀ: 'L',
  Ŋ: 'N',
  Ñ: 'N',
  ı: 'I',
  Ĳ: 'IJ',
};

/** Characters the name rules drop entirely (apostrophes and full stops). */
const DROPPED = new Set(["'", '’', '‘', 'ʼ', '`', '´', '.']);
/** Characters the name rules turn into the filler (hyphens, spaces, commas). */
const TO_FILLER = new Set(['-', '‐', '‑', '–', ' ', '\t', ',']);

/**
 * Transliterates one name (surname or given names) to the MRZ alphabet per Doc 9303 Part 3:
 * accented Latin letters per the recommended table, apostrophes dropped, hyphens and spaces
 * become `<`. Returns the transliteration or the reason it cannot be done.
 */
export function transliterateName(name: string): { value: string } | { reason: string } {
  let out = '';
  for (const ch of name.normalize('NFC')) {
    const upper = ch.toUpperCase();
    if (DROPPED.has(ch)) continue;
    if (TO_FILLER.has(ch)) {
      out += '<';
      continue;
    }
    const special = SPECIAL[ch] ?? SPECIAL[upper];
    if (special !== undefined) {
      out += special;
      continue;
    }
    // Strip combining marks after canonical decomposition: É → E + ◌́ → E.
    const base = upper.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
    if (/^[A-Z]$/.test(base)) {
      out += base;
      continue;
    }
    return {
      reason: `character ${JSON.stringify(ch)} has no MRZ transliteration (only Latin letters, spaces, hyphens and apostrophes are accepted)`,
    };
  }
  // Runs of separators collapse to one filler; none at either end.
  out = out.replace(/<+/g, '<').replace(/^<|<$/g, '');
  return { value: out };
}

/**
 * Builds the 39-character name field `PRIMARY<<SECONDARY` with the truncation rules of Doc 9303
 * Part 3 (section 4.6) and Part 4: when too long, the secondary identifier (given names) is
 * shortened first, character by character from its end, down to its first letter; only then
 * is the primary identifier shortened. A name component cut at its end never leaves a
 * dangling filler: trailing fillers are removed before the field is padded.
 */
export function nameField(
  primary: string,
  secondary: string,
): { field: string; truncated: boolean } {
  const full = secondary ? `${primary}<<${secondary}` : primary;
  if (full.length <= TD3_NAME_LENGTH)
    return { field: full.padEnd(TD3_NAME_LENGTH, '<'), truncated: false };
  let p = primary;
  let s = secondary;
  if (s) {
    const room = TD3_NAME_LENGTH - p.length - 2;
    if (room >= 1) s = s.slice(0, room);
    else {
      s = s.slice(0, 1);
      p = p.slice(0, TD3_NAME_LENGTH - 3);
    }
    s = s.replace(/<+$/, '');
    p = p.replace(/<+$/, '');
    const field = `${p}<<${s}`;
    return { field: field.padEnd(TD3_NAME_LENGTH, '<'), truncated: true };
  }
  p = p.slice(0, TD3_NAME_LENGTH).replace(/<+$/, '');
  return { field: p.padEnd(TD3_NAME_LENGTH, '<'), truncated: true };
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Checks an ISO date is a real calendar date; returns the MRZ form YYMMDD or a reason. */
export function mrzDate(iso: string): { value: string } | { reason: string } {
  const m = ISO_DATE.exec(iso);
  if (!m) return { reason: 'must be an ISO date YYYY-MM-DD' };
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d)
    return { reason: 'is not a calendar date' };
  return { value: `${m[1]!.slice(2)}${m[2]}${m[3]}` };
}

const ALNUM = /^[A-Z0-9]*$/;
const STATE = /^(?:[A-Z]{3}|[A-Z]{2}<|[A-Z]<<)$/;

function stateCode(errors: MrzFieldError[], field: string, value: unknown): string {
  if (typeof value !== 'string') {
    errors.push({ field, value: String(value), reason: 'is required' });
    return '<<<';
  }
  const v = value.toUpperCase().padEnd(3, '<');
  if (!STATE.test(v)) {
    errors.push({ field, value, reason: 'must be a 1 to 3 letter ICAO state code (e.g. PER, D)' });
    return '<<<';
  }
  return v;
}

/** The result of encoding: the two lines and what transliteration/truncation did. */
export interface Td3Mrz {
  line1: string;
  line2: string;
  /** True when the names did not fit the 39 positions and were shortened. */
  nameTruncated: boolean;
}

/**
 * Produces the two TD3 lines with all check digits. Collects every problem and throws one
 * `MrzError` listing them, so a bad application never yields a partially right MRZ.
 */
export function encodeTd3(input: MrzInput): Td3Mrz {
  const errors: MrzFieldError[] = [];
  const str = (field: keyof MrzInput): string | undefined => {
    const v = input[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      errors.push({ field, value: String(v), reason: 'must be a string' });
      return undefined;
    }
    return v;
  };

  const code = (str('documentCode') ?? '').toUpperCase();
  if (!/^P[A-Z<]?$/.test(code))
    errors.push({
      field: 'documentCode',
      value: code,
      reason: 'a TD3 passport code is P or P followed by one letter',
    });
  const issuing = stateCode(errors, 'issuingState', input.issuingState);
  const nationality = stateCode(errors, 'nationality', input.nationality);

  const surnameRaw = str('surname');
  let surname = '';
  if (surnameRaw === undefined || surnameRaw.trim() === '')
    errors.push({ field: 'surname', value: surnameRaw ?? '', reason: 'is required' });
  else {
    const t = transliterateName(surnameRaw);
    if ('reason' in t) errors.push({ field: 'surname', value: surnameRaw, reason: t.reason });
    else if (t.value === '')
      errors.push({ field: 'surname', value: surnameRaw, reason: 'has no letters' });
    else surname = t.value;
  }
  const givenRaw = str('givenNames') ?? '';
  let given = '';
  const g = transliterateName(givenRaw);
  if ('reason' in g) errors.push({ field: 'givenNames', value: givenRaw, reason: g.reason });
  else given = g.value;

  const docNum = (str('documentNumber') ?? '').toUpperCase();
  if (docNum === '') errors.push({ field: 'documentNumber', value: docNum, reason: 'is required' });
  else if (!ALNUM.test(docNum))
    errors.push({
      field: 'documentNumber',
      value: docNum,
      reason: 'only letters A-Z and digits are allowed',
    });
  else if (docNum.length > 9)
    errors.push({
      field: 'documentNumber',
      value: docNum,
      reason: 'a TD3 document number has at most 9 characters',
    });

  const dates: Record<'dateOfBirth' | 'dateOfExpiry', string> = {
    dateOfBirth: '',
    dateOfExpiry: '',
  };
  for (const f of ['dateOfBirth', 'dateOfExpiry'] as const) {
    const v = str(f) ?? '';
    const d = mrzDate(v);
    if ('reason' in d) errors.push({ field: f, value: v, reason: d.reason });
    else dates[f] = d.value;
  }
  if (dates.dateOfBirth && dates.dateOfExpiry && input.dateOfExpiry <= input.dateOfBirth)
    errors.push({
      field: 'dateOfExpiry',
      value: input.dateOfExpiry,
      reason: 'must be after the date of birth',
    });

  const sex = str('sex') ?? '';
  if (sex !== 'F' && sex !== 'M' && sex !== 'X')
    errors.push({ field: 'sex', value: sex, reason: 'must be F, M or X' });

  const personal = (str('personalNumber') ?? '').toUpperCase().replace(/[\s-]/g, '<');
  if (!/^[A-Z0-9<]*$/.test(personal))
    errors.push({
      field: 'personalNumber',
      value: input.personalNumber ?? '',
      reason: 'only letters A-Z, digits, spaces and hyphens are allowed',
    });
  else if (personal.length > 14)
    errors.push({
      field: 'personalNumber',
      value: input.personalNumber ?? '',
      reason: 'at most 14 characters fit in a TD3 MRZ',
    });

  if (errors.length > 0) throw new MrzError(errors);

  const name = nameField(surname, given);
  const line1 = `${code.padEnd(2, '<')}${issuing}${name.field}`;
  const docField = docNum.padEnd(9, '<');
  const personalField = personal.padEnd(14, '<');
  const personalCheck = /^<*$/.test(personalField) ? '<' : checkDigit(personalField);
  const sexField = sex === 'X' ? '<' : sex;
  const part1 = docField + checkDigit(docField);
  const part2 = dates.dateOfBirth + checkDigit(dates.dateOfBirth);
  const part3 = dates.dateOfExpiry + checkDigit(dates.dateOfExpiry);
  const part4 = personalField + personalCheck;
  const composite = checkDigit(part1 + part2 + part3 + part4);
  const line2 = `${part1}${nationality}${part2}${sexField}${part3}${part4}${composite}`;
  return { line1, line2, nameTruncated: name.truncated };
}

/** One check digit of a parsed MRZ: what it covers, what it says, what it should say. */
export interface MrzCheck {
  name: 'documentNumber' | 'dateOfBirth' | 'dateOfExpiry' | 'personalNumber' | 'composite';
  /** 1-based position of the check digit in line 2. */
  position: number;
  expected: string;
  actual: string;
  ok: boolean;
}

/** A parsed TD3 MRZ with the raw fields (fillers kept where meaningful) and every check. */
export interface ParsedTd3 {
  documentCode: string;
  issuingState: string;
  /** Primary identifier with fillers turned back into spaces. */
  surname: string;
  givenNames: string;
  documentNumber: string;
  nationality: string;
  /** YYMMDD as printed. */
  dateOfBirth: string;
  sex: 'F' | 'M' | 'X';
  dateOfExpiry: string;
  personalNumber: string;
  checks: MrzCheck[];
  /** Structural problems (length, alphabet, field format); check digits are in `checks`. */
  problems: string[];
  valid: boolean;
}

/** Parses and validates a TD3 MRZ given as two lines (or one 88-character string). */
export function parseTd3(line1OrBoth: string, line2?: string): ParsedTd3 {
  let l1 = line1OrBoth;
  let l2 = line2;
  if (l2 === undefined) {
    const parts = line1OrBoth.split(/\r?\n/).filter((s) => s.length > 0);
    if (parts.length === 2) [l1, l2] = [parts[0]!, parts[1]!];
    else {
      l1 = line1OrBoth.slice(0, TD3_LINE_LENGTH);
      l2 = line1OrBoth.slice(TD3_LINE_LENGTH);
    }
  }
  const problems: string[] = [];
  for (const [i, l] of [l1, l2 ?? ''].entries()) {
    if (l.length !== TD3_LINE_LENGTH)
      problems.push(`line ${i + 1} has ${l.length} characters, a TD3 line has ${TD3_LINE_LENGTH}`);
    if (!/^[A-Z0-9<]*$/.test(l))
      problems.push(`line ${i + 1} contains characters outside A-Z, 0-9 and <`);
  }
  const a = l1.padEnd(TD3_LINE_LENGTH, '<');
  const b = (l2 ?? '').padEnd(TD3_LINE_LENGTH, '<');
  if (a[0] !== 'P') problems.push('line 1 does not start with P (not a TD3 passport)');
  const names = a.slice(5, 44);
  const sep = names.indexOf('<<');
  const primary = sep < 0 ? names : names.slice(0, sep);
  const secondary = sep < 0 ? '' : names.slice(sep + 2);
  const unfill = (s: string): string => s.replace(/<+$/, '').replace(/</g, ' ');
  const safeCheck = (data: string): string => {
    try {
      return checkDigit(data);
    } catch {
      return '?';
    }
  };
  const checks: MrzCheck[] = [];
  const add = (
    name: MrzCheck['name'],
    data: string,
    position: number,
    allowFiller = false,
  ): void => {
    const actual = b[position - 1]!;
    let expected = safeCheck(data);
    if (allowFiller && /^<*$/.test(data) && (actual === '<' || actual === '0')) expected = actual;
    checks.push({ name, position, expected, actual, ok: expected === actual });
  };
  add('documentNumber', b.slice(0, 9), 10);
  add('dateOfBirth', b.slice(13, 19), 20);
  add('dateOfExpiry', b.slice(21, 27), 28);
  add('personalNumber', b.slice(28, 42), 43, true);
  add('composite', b.slice(0, 10) + b.slice(13, 20) + b.slice(21, 43), 44);
  for (const [label, v] of [
    ['date of birth', b.slice(13, 19)],
    ['date of expiry', b.slice(21, 27)],
  ] as const)
    if (!/^\d{6}$/.test(v)) problems.push(`${label} ${JSON.stringify(v)} is not YYMMDD`);
  const sexChar = b[20]!;
  if (!['F', 'M', '<'].includes(sexChar))
    problems.push(`sex ${JSON.stringify(sexChar)} is not F, M or <`);
  return {
    documentCode: a.slice(0, 2).replace(/<+$/, ''),
    issuingState: a.slice(2, 5),
    surname: unfill(primary),
    givenNames: unfill(secondary),
    documentNumber: b.slice(0, 9).replace(/<+$/, ''),
    nationality: b.slice(10, 13),
    dateOfBirth: b.slice(13, 19),
    sex: sexChar === '<' ? 'X' : (sexChar as 'F' | 'M'),
    dateOfExpiry: b.slice(21, 27),
    personalNumber: b.slice(28, 42).replace(/<+$/, ''),
    checks,
    problems,
    valid: problems.length === 0 && checks.every((c) => c.ok),
  };
}

/** The BAC "MRZ information": document number, date of birth, date of expiry, each with its check digit. */
export function bacMrzInformation(
  documentNumber: string,
  dateOfBirthYymmdd: string,
  dateOfExpiryYymmdd: string,
): string {
  const doc = documentNumber.toUpperCase().padEnd(9, '<');
  return (
    doc +
    checkDigit(doc) +
    dateOfBirthYymmdd +
    checkDigit(dateOfBirthYymmdd) +
    dateOfExpiryYymmdd +
    checkDigit(dateOfExpiryYymmdd)
  );
}
