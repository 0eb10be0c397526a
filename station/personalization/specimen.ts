/**
 * Specimen data: the technician's dry run personalizes a TEST booklet with it, and development
 * seeds queue applications made from it. Utopia (`UTO`, the ICAO specimen State) and SPECIMEN
 * names: nothing here can be mistaken for a person or a passport of ours.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withDocumentNumber, type QueuedApplication } from '../../mrtd/application.ts';
import type { ApplicationDetails } from '../applications/index.ts';
import type { JobApplication } from './job.ts';

/** The folder of the specimen face and signature (synthetic images). */
export const SPECIMEN_ASSET_DIR = fileURLToPath(new URL('../../assets/specimen/', import.meta.url));

export const SPECIMEN_APPLICATION: QueuedApplication = {
  documentCode: 'P',
  issuingState: 'UTO',
  surname: 'SPECIMEN',
  givenNames: 'TEST JOB',
  nationality: 'UTO',
  dateOfBirth: '1980-01-01',
  dateOfExpiry: '2036-01-01',
  sex: 'X',
  additionalDocumentDetails: { issuingAuthority: 'SPECIMEN - NOT A TRAVEL DOCUMENT' },
};

/** The dry run's application: specimen data and images, no queue entry. */
export function specimenApplication(): JobApplication {
  const details = SPECIMEN_APPLICATION as ApplicationDetails;
  return {
    id: undefined,
    details,
    face: readFileSync(`${SPECIMEN_ASSET_DIR}face.jpg`),
    signature: readFileSync(`${SPECIMEN_ASSET_DIR}signature.jpg`),
    toApplication: (documentNumber) => withDocumentNumber(SPECIMEN_APPLICATION, documentNumber),
  };
}
