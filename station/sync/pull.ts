/**
 * Pull: what the central office sends this station, after a cursor kept in sync_state. Every
 * item goes through the use case a local supervisor or admin would use (applications through
 * importApplication, manifests through importManifest, allocations through allocateStock, chip
 * profiles through station/agencies), on behalf of the users named at enrolment, so the same
 * validation and roles apply and each is audited. Each item is applied with the cursor moved
 * past it in one transaction: a crash repeats nothing and skips nothing. An item the station
 * refuses is audited with the reason and passed over, so one bad item does not stop the rest.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import {
  pullResponseSchema,
  SYNC_PROTOCOL,
  verifyAllowance,
  type PullItem,
  type PullResponse,
} from '../../contracts/sync.ts';
import type { Db } from '../../db/open.ts';
import { addChipProfile, getChipProfile, setChipProfileAccepted } from '../agencies.ts';
import { importApplication } from '../applications/import.ts';
import { writeAudit } from '../audit.ts';
import { StationError } from '../errors.ts';
import { getStationIdentity } from '../identity.ts';
import type { ApplicationDataKey } from '../keys/data-key.ts';
import { allocateStock, importManifest } from '../stock.ts';
import type { Actor } from '../users.ts';
import type { SyncClient } from './client.ts';
import { SyncRemoteError } from './client.ts';
import { readSyncConfig, readSyncState, updateSyncState } from './state.ts';

export const PULL_PATH = '/v1/pull';

const chipProfileSchema = z.strictObject({
  agencyCode: z.string().min(2).max(40),
  profileId: z.string().min(1).max(64),
  chipOs: z.string().min(1).max(100),
  appletVersion: z.string().min(1).max(100),
  keyVersion: z.number().int().min(0).max(255),
  accepted: z.boolean().optional(),
});

/** The local users pulled data is applied on behalf of (named at enrolment). */
function actors(db: Db): { admin: Actor; supervisor: Actor } {
  const c = readSyncConfig(db);
  if (!c)
    throw new StationError(
      'this station is not enrolled with a central office',
      'sync_not_enrolled',
    );
  const load = (id: number, role: 'admin' | 'supervisor'): Actor => {
    const u = db.prepare('SELECT id, username, role, disabled FROM users WHERE id = ?').get(id) as
      { id: number; username: string; role: string; disabled: number } | undefined;
    if (!u || u.disabled || u.role !== role)
      throw new StationError(
        `the ${role} named at enrolment for pulled data is ${u ? 'disabled or no longer a ' + role : 'gone'}: enrol again naming another`,
        'sync_actor_unavailable',
      );
    return { id: u.id, username: u.username, role };
  };
  return { admin: load(c.enrolledBy, 'admin'), supervisor: load(c.appliedBy, 'supervisor') };
}

export interface PullContext {
  db: Db;
  /** The application data key: pulled applications are sealed with it. */
  dataKey?: ApplicationDataKey;
  at: Date;
}

/** What one item did: applied, or refused with the reason (never personal data). */
export type ItemOutcome = { seq: number; kind: string; applied: boolean; reason?: string };

function importPulledApplication(
  ctx: PullContext,
  supervisor: Actor,
  item: Extract<PullItem, { kind: 'application' }>,
): void {
  const { db } = ctx;
  if (
    db
      .prepare('SELECT 1 FROM sync_pulled_applications WHERE central_id = ?')
      .get(item.applicationId)
  )
    return; // applied before (a repeated pull)
  // Not a refusal of the item: the pull stops here and is retried once the key is there.
  if (!ctx.dataKey)
    throw new Error(
      'the application data key is not open: pulled applications cannot be sealed (station keys data-key create)',
    );
  // The same use case as a local import: the images are written to a private temporary
  // directory, named as the application names them, and removed afterwards.
  const dir = mkdtempSync(join(tmpdir(), 'perso-pull-'));
  try {
    for (const img of item.images)
      writeFileSync(join(dir, img.name), Buffer.from(img.base64, 'base64'), { mode: 0o600 });
    const imported = importApplication(
      db,
      ctx.dataKey,
      supervisor,
      JSON.stringify(item.application),
      dir,
      ctx.at,
    );
    db.prepare(
      'INSERT INTO sync_pulled_applications (central_id, application_id, pulled_at) VALUES (?, ?, ?)',
    ).run(item.applicationId, imported.id, ctx.at.toISOString());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function applyItem(
  ctx: PullContext,
  who: { admin: Actor; supervisor: Actor },
  item: PullItem,
): void {
  const { db, at } = ctx;
  switch (item.kind) {
    case 'application':
      return importPulledApplication(ctx, who.supervisor, item);
    case 'manifest':
      importManifest(db, who.supervisor, JSON.stringify(item.manifest), at);
      return;
    case 'allocation':
      allocateStock(db, who.supervisor, {
        batchId: item.batchId,
        serials: item.serials,
        reason: 'allocated by the central office',
        at,
      });
      return;
    case 'lost_stolen':
      if (item.status === 'cleared')
        db.prepare('DELETE FROM sync_lost_stolen WHERE serial = ?').run(item.serial);
      else
        db.prepare(
          `INSERT INTO sync_lost_stolen (serial, status, reported_at, pulled_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (serial) DO UPDATE SET status = excluded.status,
             reported_at = excluded.reported_at, pulled_at = excluded.pulled_at`,
        ).run(item.serial, item.status, item.reportedAt, at.toISOString());
      writeAudit(db, {
        actor: who.admin,
        action: 'sync.lost_stolen',
        details: { serial: item.serial, status: item.status, reportedAt: item.reportedAt },
        at,
      });
      return;
    case 'chip_profile': {
      const p = chipProfileSchema.safeParse(item.profile);
      if (!p.success)
        throw new StationError(
          `chip profile: ${p.error.issues[0]?.path.join('.') || 'profile'} ${p.error.issues[0]?.message ?? 'is invalid'}`,
          'invalid_input',
        );
      const { accepted, ...profile } = p.data;
      const known = getChipProfile(db, profile.agencyCode, profile.profileId);
      if (!known) addChipProfile(db, who.admin, profile);
      if (accepted !== undefined && (known?.accepted ?? true) !== accepted)
        setChipProfileAccepted(db, who.admin, profile.agencyCode, profile.profileId, accepted);
      return;
    }
    case 'agency_settings':
    case 'user':
      // Users and PINs stay with the station's own admin: a pulled user would need a PIN the
      // central office must never hold, and a pulled role change would bypass the station's
      // admin. Agency settings have no station-side setting to apply yet. Both are audited.
      throw new StationError(
        item.kind === 'user'
          ? `users are managed at the station (user ${item.username} not applied)`
          : 'agency settings are not applied at the station',
        'not_applied',
      );
  }
}

/** Applies pulled items in order, each with the cursor in one transaction. */
export function applyPulledItems(ctx: PullContext, items: readonly PullItem[]): ItemOutcome[] {
  const { db, at } = ctx;
  const who = actors(db);
  const out: ItemOutcome[] = [];
  for (const item of items) {
    if (item.seq <= readSyncState(db).pullCursor) continue; // applied before
    const outcome = db.transaction((): ItemOutcome => {
      try {
        // A savepoint: a refused item leaves nothing behind but its audit entry.
        db.transaction(() => applyItem(ctx, who, item))();
        updateSyncState(db, { pullCursor: item.seq });
        return { seq: item.seq, kind: item.kind, applied: true };
      } catch (e) {
        if (
          !(e instanceof StationError) &&
          !(e instanceof Error && e.name === 'ApplicationRefusedError')
        )
          throw e;
        const reason = refusalReason(e);
        writeAudit(db, {
          actor: who.admin,
          action: 'sync.pull_refused',
          details: { seq: item.seq, kind: item.kind, reason },
          at,
        });
        updateSyncState(db, { pullCursor: item.seq });
        return { seq: item.seq, kind: item.kind, applied: false, reason };
      }
    })();
    out.push(outcome);
  }
  return out;
}

/** A refusal's reason for the audit: field names and codes, never the values refused. */
function refusalReason(e: unknown): string {
  const errors = (e as { errors?: { field: string; reason: string }[] }).errors;
  if (Array.isArray(errors)) return errors.map((x) => `${x.field}: ${x.reason}`).join('; ');
  return (e as Error).message;
}

/** Stores the allowance after checking it is signed by the central office key from enrolment
 * and names this station; refuses it otherwise (the one stored stays). */
export function storeAllowance(db: Db, r: PullResponse): void {
  const c = readSyncConfig(db);
  if (!c) throw new StationError('this station is not enrolled', 'sync_not_enrolled');
  const { stationId } = getStationIdentity(db);
  if (!verifyAllowance(r.allowance, c.centralKeyPem, stationId))
    throw new SyncRemoteError(
      200,
      'BAD_SIGNATURE',
      'the offline allowance the central office sent is not signed by the central office key stored at enrolment, or names another station: it was not stored',
    );
  const before = readSyncState(db).allowance;
  const text = JSON.stringify(r.allowance);
  // Audited when a limit changes; a fresh issue of the same limits (every pull) is not.
  const limits = (json: string | null) => {
    if (!json) return null;
    const { issuedAt: _at, ...rest } = (JSON.parse(json) as PullResponse['allowance']).allowance;
    return JSON.stringify(rest);
  };
  db.transaction(() => {
    updateSyncState(db, {
      allowance: text,
      retentionHours: r.allowance.allowance.retentionHours,
      ...(r.more ? {} : { lostStolenAsOf: r.lostStolenAsOf }),
    });
    if (limits(before) !== limits(text))
      writeAudit(db, {
        actor: 'central-office',
        action: 'sync.allowance',
        details: { ...r.allowance.allowance },
      });
  })();
}

export interface PullOutcome {
  items: ItemOutcome[];
  more: boolean;
}

/** One pull: asks for the items after the cursor, applies them, stores the allowance. */
export async function pullOnce(
  ctx: PullContext,
  client: SyncClient,
  limit?: number,
): Promise<PullOutcome> {
  const { db } = ctx;
  const { stationId } = getStationIdentity(db);
  const cursor = readSyncState(db).pullCursor;
  const r = await client.post(
    PULL_PATH,
    { protocol: SYNC_PROTOCOL, stationId, cursor, ...(limit ? { limit } : {}) },
    pullResponseSchema,
  );
  const items = applyPulledItems(ctx, r.items);
  if (r.cursor > readSyncState(db).pullCursor) updateSyncState(db, { pullCursor: r.cursor });
  storeAllowance(db, r);
  if (items.length > 0)
    writeAudit(db, {
      actor: 'central-office',
      action: 'sync.pulled',
      details: {
        fromCursor: cursor,
        toCursor: readSyncState(db).pullCursor,
        applied: items.filter((i) => i.applied).length,
        refused: items.filter((i) => !i.applied).length,
      },
      at: ctx.at,
    });
  return { items, more: r.more };
}
