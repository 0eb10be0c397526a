import { existsSync } from 'node:fs';
import { openDatabase, stationDbPath, type Db } from '../db/open.ts';
import {
  AUDIT_KEY_ENROLLED,
  auditHead,
  flushAuditAnchor,
  useAuditKey,
  writeAudit,
  type AuditEntry,
} from './audit.ts';
import { auditKeyId, openAuditKey, type AuditKey } from './keys/audit-key.ts';
import { preparePrivateDataDir } from './data-dir.ts';
import { InvalidInputError, NotInitializedError, StationError } from './errors.ts';
import { defaultTimeZone, isTimeZone } from './time.ts';
import { insertFirstAdmin, requireRole, type Actor } from './users.ts';
import { checkAgencyCode } from './agencies.ts';

export interface StationIdentity {
  stationId: string;
  agencyCode: string;
  /** The IANA time zone whose calendar days the ledger counts in. */
  timeZone: string;
  createdAt: string;
}

/**
 * Opens (creating and migrating if needed) the station database of a data directory (the
 * directory made or checked to be 0700, the database files 0600 first). Audit
 * entries written through it are signed with the station audit key from the key custody
 * configured in that directory, opened at the first entry (secrets from `env`).
 */
export function openStationDb(dataDir: string, env: NodeJS.ProcessEnv = process.env): Db {
  preparePrivateDataDir(dataDir);
  const db = openDatabase(stationDbPath(dataDir));
  useAuditKey(db, () => {
    const row = db.prepare('SELECT station_id FROM station WHERE id = 1').get() as
      { station_id: string } | undefined;
    if (!row) throw new NotInitializedError();
    return openAuditKey(dataDir, row.station_id, env);
  });
  return db;
}

/** True if the data directory has a database file (initialised or not). */
export function stationDbExists(dataDir: string): boolean {
  return existsSync(stationDbPath(dataDir));
}

const identityCache = new WeakMap<Db, StationIdentity>();

/** This station's id and agency; throws NotInitializedError before `station init`. */
export function getStationIdentity(db: Db): StationIdentity {
  const cached = identityCache.get(db);
  if (cached) return cached;
  const row = db
    .prepare('SELECT station_id, agency_code, timezone, created_at FROM station WHERE id = 1')
    .get() as
    { station_id: string; agency_code: string; timezone: string; created_at: string } | undefined;
  if (!row) throw new NotInitializedError();
  const id = {
    stationId: row.station_id,
    agencyCode: row.agency_code,
    timeZone: row.timezone,
    createdAt: row.created_at,
  };
  identityCache.set(db, id);
  return id;
}

export function checkStationId(id: string): void {
  if (!/^[A-Z0-9][A-Z0-9-]{1,39}$/.test(id))
    throw new InvalidInputError(
      `station id ${JSON.stringify(id)} is not valid: use 2-40 upper-case letters, digits and '-'`,
    );
}

export interface InitOptions {
  stationId: string;
  agencyCode: string;
  agencyName?: string;
  adminUsername: string;
  adminSecret: string;
  timeZone?: string;
  at?: Date;
}

/**
 * Gives a fresh database its identity (station id, agency) and its first admin, in one
 * transaction. Refuses a station that is initialised already.
 */
export function initStation(
  db: Db,
  opts: InitOptions,
): { identity: StationIdentity; admin: Actor } {
  checkStationId(opts.stationId);
  checkAgencyCode(opts.agencyCode);
  const timeZone = opts.timeZone ?? defaultTimeZone();
  if (!isTimeZone(timeZone))
    throw new InvalidInputError(`unknown time zone ${JSON.stringify(timeZone)}`);
  const at = opts.at ?? new Date();
  const admin = db.transaction(() => {
    if (db.prepare('SELECT 1 FROM station WHERE id = 1').get())
      throw new StationError(
        `this station is initialised already (${getStationIdentity(db).stationId})`,
        'already_initialized',
      );
    const agency = db.prepare('SELECT code FROM agencies WHERE code = ?').get(opts.agencyCode);
    if (!agency)
      db.prepare('INSERT INTO agencies (code, name, created_at) VALUES (?, ?, ?)').run(
        opts.agencyCode,
        opts.agencyName ?? opts.agencyCode,
        at.toISOString(),
      );
    db.prepare(
      'INSERT INTO station (id, station_id, agency_code, timezone, created_at) VALUES (1, ?, ?, ?, ?)',
    ).run(opts.stationId, opts.agencyCode, timeZone, at.toISOString());
    const admin = insertFirstAdmin(db, opts.adminUsername, opts.adminSecret, at);
    writeAudit(db, {
      actor: admin,
      action: 'station.initialised',
      details: {
        stationId: opts.stationId,
        agency: opts.agencyCode,
        timeZone,
        admin: admin.username,
      },
      at,
    });
    return admin;
  })();
  return { identity: getStationIdentity(db), admin };
}

/**
 * Starts signing the audit log of a station set up before audit keys: `key` (just generated in
 * the station's key custody) signs an `audit.key_enrolled` entry that names the unsigned
 * entries before it and the hash of the last one, so the chain vouches for them from then on.
 * Refuses a station whose log is signed already.
 */
export function enrollAuditKey(db: Db, by: Actor, key: AuditKey): AuditEntry {
  requireRole(by, ['admin'], 'enroll the station audit key');
  const entry = db
    .transaction(() => {
      if (db.prepare('SELECT 1 FROM audit_log WHERE sig IS NOT NULL LIMIT 1').get())
        throw new StationError(
          'this station signs its audit log already: there is nothing to enroll',
          'already_enrolled',
        );
      const head = auditHead(db);
      useAuditKey(db, key);
      return writeAudit(db, {
        actor: by,
        action: AUDIT_KEY_ENROLLED,
        details: {
          unsignedEntries: head.seq,
          lastUnsignedHash: head.hash,
          auditKeyId: auditKeyId(key.publicKey),
        },
      });
    })
    .immediate();
  flushAuditAnchor(db);
  return entry;
}
