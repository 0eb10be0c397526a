/**
 * Enrolment: an admin gives the central office's URL and the one-time code its admin issued;
 * the station sends its sync public key and its audit public key, in a request signed with the
 * sync key (proof of possession), and stores the central office's URL and the key that signs
 * its offline allowances. Audited; the code is never stored, logged or audited.
 */
import { createPublicKey } from 'node:crypto';
import { enrolResponseSchema, SYNC_PROTOCOL, type EnrolResponse } from '../../contracts/sync.ts';
import type { Db } from '../../db/open.ts';
import { writeAudit } from '../audit.ts';
import { InvalidInputError, StationError } from '../errors.ts';
import { getStationIdentity } from '../identity.ts';
import { requireRole, type Actor } from '../users.ts';
import { SyncClient, type FetchLike } from './client.ts';
import { syncKeyId, syncPublicKeyPem, type SyncKey } from './sync-key.ts';
import { readSyncConfig, writeSyncConfig } from './state.ts';

export const ENROL_PATH = '/v1/enrol';

export interface EnrolOptions {
  url: string;
  code: string;
  key: SyncKey;
  auditPublicKeyPem: string;
  /** The supervisor on whose behalf pulled applications, manifests and allocations are applied. */
  supervisor: string;
  /** How the enrolment came about, when not by hand (audited as `via`). */
  via?: string;
  fetch?: FetchLike;
  now?: () => Date;
}

/** Checks a central office URL: http(s), no credentials in it. */
export function checkCentralUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidInputError(`central office URL ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new InvalidInputError('the central office URL must start with https:// or http://');
  if (u.username || u.password)
    throw new InvalidInputError('the central office URL must not carry a user name or password');
  return u.origin;
}

export async function enrolStation(db: Db, admin: Actor, o: EnrolOptions): Promise<EnrolResponse> {
  requireRole(admin, ['admin'], 'enrol the station with a central office');
  const base = checkCentralUrl(o.url);
  const { stationId } = getStationIdentity(db);
  const sup = db
    .prepare("SELECT id, disabled FROM users WHERE username = ? AND role = 'supervisor'")
    .get(o.supervisor) as { id: number; disabled: number } | undefined;
  if (!sup || sup.disabled)
    throw new InvalidInputError(
      `no active supervisor ${JSON.stringify(o.supervisor)} at this station: pulled applications and stock are applied on a supervisor's behalf`,
    );
  const client = new SyncClient({
    baseUrl: base,
    stationId,
    key: o.key,
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.now ? { now: o.now } : {}),
  });
  const r = await client.post(
    ENROL_PATH,
    {
      protocol: SYNC_PROTOCOL,
      stationId,
      code: o.code,
      publicKey: syncPublicKeyPem(o.key),
      auditPublicKey: o.auditPublicKeyPem,
    },
    enrolResponseSchema,
  );
  if (r.stationId !== stationId)
    throw new StationError(
      `the central office enrolled station ${r.stationId}, not this station ${stationId}: nothing was stored`,
      'sync_enrol_mismatch',
    );
  createPublicKey(r.centralPublicKey); // refuses a key that does not parse before storing it
  const previous = readSyncConfig(db);
  const at = (o.now ?? (() => new Date()))();
  db.transaction(() => {
    writeSyncConfig(db, {
      centralUrl: base,
      centralKeyPem: r.centralPublicKey,
      stationKeyId: syncKeyId(o.key.publicKey),
      enrolledAt: at.toISOString(),
      enrolledBy: admin.id,
      appliedBy: sup.id,
    });
    writeAudit(db, {
      actor: admin,
      action: 'sync.enrolled',
      details: {
        centralUrl: base,
        centralKeyId: r.centralKeyId,
        stationKeyId: syncKeyId(o.key.publicKey),
        keyKind: o.key.kind,
        supervisor: o.supervisor,
        ...(previous ? { replaces: previous.centralUrl } : {}),
        ...(o.via ? { via: o.via } : {}),
      },
      at,
    });
  })();
  return r;
}
