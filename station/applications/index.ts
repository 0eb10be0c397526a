/** The application queue (docs/applications.md): the public surface of station/applications. */
export {
  ApplicationRefusedError,
  importApplication,
  MAX_APPLICATION_BYTES,
  MAX_FACE_BYTES,
  MAX_SIGNATURE_BYTES,
  type ApplicationDetails,
  type ImportedApplication,
} from './import.ts';
export { createStationDataKey, openStationDataKey } from './keys.ts';
export {
  APPLICATION_STATUSES,
  APPLICATION_TRANSITIONS,
  cancel,
  hold,
  listQueue,
  markPersonalized,
  release,
  returnToQueue,
  showApplication,
  take,
  takeNext,
  type ApplicationStatus,
  type QueueEntry,
  type TakenApplication,
} from './queue.ts';
export { ApplicationIntegrityError } from './seal.ts';
