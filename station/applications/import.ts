/**
 * `station applications import`: one approved application file (docs/application-format.md,
 * without documentNumber) and its images into the queue, sealed, all or nothing.
 */
import { parseStrictJson } from '../../contracts/strict-json.ts';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Db } from '../../db/open.ts';
import {
  ApplicationError,
  parseQueuedApplication,
  type QueuedApplication,
} from '../../mrtd/application.ts';
import { imageInfo, ImageError } from '../../mrtd/image.ts';
import type { MrzFieldError } from '../../mrtd/mrz.ts';
import { writeAudit } from '../audit.ts';
import { StationError } from '../errors.ts';
import type { ApplicationDataKey } from '../keys/data-key.ts';
import { requireRole, type Actor } from '../users.ts';
import { newApplicationKey, sealField } from './seal.ts';

/** Largest application JSON accepted (the data page fields and DG11/DG12 text fit in far less). */
export const MAX_APPLICATION_BYTES = 64 * 1024;
/** Largest face image: DG2 must fit the chip with room for the other groups. */
export const MAX_FACE_BYTES = 256 * 1024;
/** Largest signature image (DG7). */
export const MAX_SIGNATURE_BYTES = 64 * 1024;

/** An application file refused: every problem found, one per field, as `field: reason`. */
export class ApplicationRefusedError extends StationError {
  constructor(readonly errors: MrzFieldError[]) {
    super(
      `the application is refused, nothing was imported: ${new ApplicationError(errors).message}`,
      'application_refused',
    );
    this.name = 'ApplicationRefusedError';
  }
}

/** What the sealed `details` field holds: the application without its image file names. */
export type ApplicationDetails = Omit<QueuedApplication, 'faceImage' | 'signatureImage'>;

export interface ImportedApplication {
  id: number;
  status: 'queued';
  receivedAt: string;
  documentCode: string;
  issuingState: string;
}

function refuse(field: string, reason: string, value = ''): ApplicationRefusedError {
  return new ApplicationRefusedError([{ field, value, reason }]);
}

function readImage(
  baseDir: string,
  field: 'faceImage' | 'signatureImage',
  name: string,
  max: number,
  errors: MrzFieldError[],
): Buffer | undefined {
  const fail = (reason: string): undefined => {
    errors.push({ field, value: name, reason });
    return undefined;
  };
  if (isAbsolute(name)) return fail('must be a path relative to the application file');
  const path = resolve(baseDir, name);
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) return fail('is not a file');
    size = st.size;
  } catch (e) {
    return fail(`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  // Checked before reading, so an enormous file is never loaded.
  if (size > max) return fail(`is ${size} bytes; at most ${max} are accepted`);
  const bytes = readFileSync(path);
  try {
    const info = imageInfo(bytes);
    if (info.width === 0 || info.height === 0) return fail('has no pixels (width or height 0)');
  } catch (e) {
    if (e instanceof ImageError) return fail(`is not a JPEG or JPEG 2000 image: ${e.message}`);
    throw e;
  }
  return bytes;
}

/**
 * Validates an application file and its images and queues it, sealed under a fresh
 * per-application key wrapped by the custody's data key. Supervisor only. Refuses, writing
 * nothing, a file with any problem (ApplicationRefusedError lists them, naming each field) and
 * an application already in the queue or personalized (same data and images).
 */
export function importApplication(
  db: Db,
  keys: ApplicationDataKey,
  actor: Actor,
  jsonText: string,
  baseDir: string,
  at = new Date(),
): ImportedApplication {
  requireRole(actor, ['supervisor'], 'import applications');
  const size = Buffer.byteLength(jsonText, 'utf8');
  if (size > MAX_APPLICATION_BYTES)
    throw refuse(
      '(application)',
      `is ${size} bytes; at most ${MAX_APPLICATION_BYTES} are accepted`,
    );
  let json: unknown;
  try {
    json = parseStrictJson(jsonText);
  } catch (e) {
    throw refuse('(application)', `is not valid JSON: ${(e as Error).message}`);
  }
  let app: QueuedApplication;
  try {
    app = parseQueuedApplication(json);
  } catch (e) {
    if (e instanceof ApplicationError) throw new ApplicationRefusedError(e.errors);
    throw e;
  }
  const errors: MrzFieldError[] = [];
  const { faceImage, signatureImage, ...details } = app;
  if (faceImage === undefined)
    errors.push({ field: 'faceImage', value: '', reason: 'is required (DG2, the chip face)' });
  const face =
    faceImage === undefined
      ? undefined
      : readImage(baseDir, 'faceImage', faceImage, MAX_FACE_BYTES, errors);
  const signature =
    signatureImage === undefined
      ? undefined
      : readImage(baseDir, 'signatureImage', signatureImage, MAX_SIGNATURE_BYTES, errors);
  if (errors.length > 0 || !face) throw new ApplicationRefusedError(errors);

  const detailsJson = Buffer.from(JSON.stringify(details satisfies ApplicationDetails), 'utf8');
  // Over the data and the images: the face makes it unguessable from a name and a birth date.
  const digest = createHash('sha256')
    .update(detailsJson)
    .update('\0face\0')
    .update(face)
    .update('\0signature\0')
    .update(signature ?? Buffer.alloc(0))
    .digest('hex');
  const receivedAt = at.toISOString();

  return db
    .transaction((): ImportedApplication => {
      const same = db
        .prepare(
          "SELECT id, status FROM applications WHERE content_digest = ? AND status <> 'cancelled'",
        )
        .get(digest) as { id: number; status: string } | undefined;
      if (same)
        throw new StationError(
          `this application is already at the station as application ${same.id} (${same.status}); nothing was imported`,
          'application_known',
        );
      // Applications are never deleted, so max + 1 is a fresh id; it must be known before
      // sealing, because every ciphertext is bound to it.
      const id =
        (db.prepare('SELECT coalesce(max(id), 0) + 1 FROM applications').pluck().get() as number) ??
        1;
      const { key, wrapped } = newApplicationKey(keys, id);
      try {
        db.prepare(
          `INSERT INTO applications (id, status, received_at, received_by, document_code,
             issuing_state, content_digest, key_label, wrapped_key, updated_at)
           VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          id,
          receivedAt,
          actor.id,
          app.documentCode,
          app.issuingState,
          digest,
          keys.label,
          wrapped,
          receivedAt,
        );
        const put = db.prepare(
          'INSERT INTO application_data (application_id, field, sealed) VALUES (?, ?, ?)',
        );
        put.run(id, 'details', sealField(key, id, 'details', detailsJson));
        put.run(id, 'face', sealField(key, id, 'face', face));
        if (signature) put.run(id, 'signature', sealField(key, id, 'signature', signature));
      } finally {
        key.fill(0);
        detailsJson.fill(0);
      }
      writeAudit(db, {
        actor,
        action: 'application.imported',
        details: { applicationId: id },
        at,
      });
      return {
        id,
        status: 'queued',
        receivedAt,
        documentCode: app.documentCode,
        issuingState: app.issuingState,
      };
    })
    .immediate();
}
