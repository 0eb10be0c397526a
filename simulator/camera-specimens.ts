/**
 * Random but valid specimen applications for measuring the camera: names, dates, numbers and
 * sexes drawn from a seeded generator, so a benchmark or test run is repeatable.
 */
import { type Application } from '../mrtd/application.ts';

const SURNAMES = ['Núñez', 'García', 'Quispe', "O'Brien", 'Müller', 'Zúñiga', 'Ávila', 'Ødegård'];
const GIVEN = ['María', 'José', 'Xiomara', 'Yupanqui', 'Wilfredo', 'Kevin', 'Ana-Lucía', 'Héctor'];
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** One random valid application; names mix the lists above with random letters. */
export function randomApplication(rnd: () => number): Application {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const letters = (n: number): string =>
    Array.from({ length: n }, () => ALNUM[Math.floor(rnd() * 26)]).join('');
  const word = (): string => (rnd() < 0.5 ? pick(SURNAMES) : letters(3 + Math.floor(rnd() * 9)));
  const surname = Array.from({ length: 1 + Math.floor(rnd() * 3) }, word).join(' ');
  const givenNames =
    rnd() < 0.1
      ? ''
      : Array.from({ length: 1 + Math.floor(rnd() * 3) }, () =>
          rnd() < 0.5 ? pick(GIVEN) : letters(2 + Math.floor(rnd() * 8)),
        ).join(' ');
  const date = (from: number, span: number): string => {
    const d = new Date(Date.UTC(from, 0, 1) + Math.floor(rnd() * span * 365.25) * 86_400_000);
    return d.toISOString().slice(0, 10);
  };
  const documentNumber = Array.from(
    { length: 6 + Math.floor(rnd() * 4) },
    () => ALNUM[Math.floor(rnd() * ALNUM.length)],
  ).join('');
  return {
    documentCode: 'P',
    issuingState: 'PER',
    surname,
    givenNames,
    documentNumber,
    nationality: pick(['PER', 'COL', 'D', 'UTO']),
    dateOfBirth: date(1930, 90),
    dateOfExpiry: date(2026, 10),
    sex: pick(['F', 'M', 'X']),
    ...(rnd() < 0.6
      ? {
          personalNumber: Array.from({ length: 1 + Math.floor(rnd() * 14) }, () =>
            pick([...ALNUM]),
          ).join(''),
        }
      : {}),
    additionalDocumentDetails: {
      issuingAuthority: 'Superintendencia Nacional de Migraciones',
      dateOfIssue: '2026-03-14',
    },
  };
}
