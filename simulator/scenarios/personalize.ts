import { makeBooklet, type Booklet, type ChipProfileName } from '../hopper.ts';
import type { Scenario, ScenarioSeed } from '../scenario.ts';
import { OUR_PROFILE, seedFor } from '../seed.ts';

const FAMILIES: ChipProfileName[] = ['emrtd-ext-96k', 'emrtd-short-64k', 'emrtd-strict-64k'];
const SURNAMES = ['QUISPE MAMANI', 'GARCIA', 'RODRIGUEZ', 'FLORES', 'HUAMAN', 'CHAVEZ', 'ROJAS'];
const GIVEN = ['ANA LUCIA', 'JOSE', 'MARIA', 'LUIS ALBERTO', 'ROSA', 'CARLOS', 'ELENA'];

/** Approved applications for the personalization scenarios (faces: the specimen images). */
export function applications(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    documentCode: 'P',
    issuingState: 'PER',
    surname: SURNAMES[i % SURNAMES.length],
    givenNames: GIVEN[(i * 3) % GIVEN.length],
    nationality: 'PER',
    dateOfBirth: `19${String(60 + (i % 40)).padStart(2, '0')}-0${1 + (i % 9)}-${String(10 + (i % 18))}`,
    dateOfExpiry: '2036-03-13',
    sex: i % 2 ? 'F' : 'M',
    personalNumber: String(40000000 + i),
    faceImage: 'face.jpg',
    signatureImage: 'signature.jpg',
    additionalDocumentDetails: {
      issuingAuthority: 'Superintendencia Nacional de Migraciones',
      dateOfIssue: '2026-03-14',
    },
  }));
}

/** Production booklets of ours (all chip families), then TEST booklets, all allocated here. */
export function personalizationStock(
  production: number,
  test: number,
  start = 3000001,
): { booklets: Booklet[]; seed: (apps: number) => ScenarioSeed } {
  const prod = Array.from({ length: production }, (_, i) =>
    makeBooklet({
      serial: `PA${start + i}`,
      batch: 'MIG-PERSO-01',
      profileId: OUR_PROFILE,
      chipProfile: FAMILIES[i % FAMILIES.length]!,
    }),
  );
  const tst = Array.from({ length: test }, (_, i) =>
    makeBooklet({
      serial: `PT${start + i}`,
      batch: 'MIG-TEST-01',
      profileId: OUR_PROFILE,
      chipProfile: FAMILIES[i % FAMILIES.length]!,
    }),
  );
  return {
    booklets: [...prod, ...tst],
    seed: (apps) => ({
      ...seedFor([
        ...prod.map((booklet) => ({ booklet })),
        ...tst.map((booklet) => ({ booklet, stockClass: 'test' as const })),
      ]),
      applications: applications(apps),
    }),
  };
}

const stock = personalizationStock(40, 6);

export const scenario: Scenario = {
  name: 'personalize',
  description: '40 production booklets of ours, 6 TEST booklets and 40 approved applications',
  hopper: () => ({ version: 1, booklets: stock.booklets }),
  seed: () => stock.seed(40),
};
