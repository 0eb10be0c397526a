import { preparedOnce, type Db } from '../db/open.ts';
import { writeAudit } from './audit.ts';
import { InvalidInputError } from './errors.ts';
import { requireRole, type Actor } from './users.ts';

export interface ChipProfile {
  agencyCode: string;
  profileId: string;
  chipOs: string;
  appletVersion: string;
  keyVersion: number;
  accepted: boolean;
}

export interface Agency {
  code: string;
  name: string;
  profiles: ChipProfile[];
}

export function checkAgencyCode(code: string): void {
  if (!/^[A-Z][A-Z0-9-]{1,39}$/.test(code))
    throw new InvalidInputError(
      `agency code ${JSON.stringify(code)} is not valid: use upper-case letters, digits and '-' (e.g. PER-MIGRACIONES)`,
    );
}

function checkProfileId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id))
    throw new InvalidInputError(`chip profile id ${JSON.stringify(id)} is not valid`);
}

interface ProfileRow {
  agency_code: string;
  profile_id: string;
  chip_os: string;
  applet_version: string;
  key_version: number;
  accepted: number;
}

const toProfile = (r: ProfileRow): ChipProfile => ({
  agencyCode: r.agency_code,
  profileId: r.profile_id,
  chipOs: r.chip_os,
  appletVersion: r.applet_version,
  keyVersion: r.key_version,
  accepted: r.accepted === 1,
});

export function listAgencies(db: Db): Agency[] {
  const agencies = db.prepare('SELECT code, name FROM agencies ORDER BY code').all() as {
    code: string;
    name: string;
  }[];
  return agencies.map((a) => ({ ...a, profiles: listChipProfiles(db, a.code) }));
}

export function listChipProfiles(db: Db, agencyCode: string): ChipProfile[] {
  return (
    db
      .prepare('SELECT * FROM chip_profiles WHERE agency_code = ? ORDER BY profile_id')
      .all(agencyCode) as ProfileRow[]
  ).map(toProfile);
}

export function getChipProfile(
  db: Db,
  agencyCode: string,
  profileId: string,
): ChipProfile | undefined {
  const r = preparedOnce(
    db,
    'SELECT * FROM chip_profiles WHERE agency_code = ? AND profile_id = ?',
  ).get(agencyCode, profileId) as ProfileRow | undefined;
  return r ? toProfile(r) : undefined;
}

/** True if the agency lists the profile and still accepts it. */
export function isProfileAccepted(db: Db, agencyCode: string, profileId: string): boolean {
  return getChipProfile(db, agencyCode, profileId)?.accepted === true;
}

/** True if this station's own agency accepts the chip profile (what intake asks of a booklet). */
export function isProfileAcceptedByStation(db: Db, profileId: string): boolean {
  const row = preparedOnce(db, 'SELECT agency_code FROM station WHERE id = 1').get() as
    { agency_code: string } | undefined;
  return row !== undefined && isProfileAccepted(db, row.agency_code, profileId);
}

/** An admin records an agency (other agencies are kept so refusals can name them). */
export function addAgency(db: Db, by: Actor, code: string, name: string): void {
  requireRole(by, ['admin'], 'add agencies');
  checkAgencyCode(code);
  if (!name.trim()) throw new InvalidInputError('the agency name is empty');
  db.transaction(() => {
    if (db.prepare('SELECT 1 FROM agencies WHERE code = ?').get(code))
      throw new InvalidInputError(`agency ${code} exists already`);
    db.prepare('INSERT INTO agencies (code, name, created_at) VALUES (?, ?, ?)').run(
      code,
      name.trim(),
      new Date().toISOString(),
    );
    writeAudit(db, { actor: by, action: 'agency.added', details: { code, name: name.trim() } });
  })();
}

/** An admin adds (or re-accepts) a chip profile for an agency. */
export function addChipProfile(db: Db, by: Actor, p: Omit<ChipProfile, 'accepted'>): ChipProfile {
  requireRole(by, ['admin'], 'add chip profiles');
  checkProfileId(p.profileId);
  if (!p.chipOs.trim()) throw new InvalidInputError('chip OS is empty');
  if (!p.appletVersion.trim()) throw new InvalidInputError('applet version is empty');
  if (!Number.isInteger(p.keyVersion) || p.keyVersion < 0 || p.keyVersion > 255)
    throw new InvalidInputError(`key version ${p.keyVersion} is not an integer 0..255`);
  return db.transaction(() => {
    if (!db.prepare('SELECT 1 FROM agencies WHERE code = ?').get(p.agencyCode))
      throw new InvalidInputError(`no agency ${p.agencyCode}`);
    if (getChipProfile(db, p.agencyCode, p.profileId))
      throw new InvalidInputError(
        `agency ${p.agencyCode} already has a chip profile ${p.profileId}`,
      );
    db.prepare(
      `INSERT INTO chip_profiles (agency_code, profile_id, chip_os, applet_version, key_version, accepted, created_at)
       VALUES (?, ?, ?, ?, ?, 1, ?)`,
    ).run(
      p.agencyCode,
      p.profileId,
      p.chipOs,
      p.appletVersion,
      p.keyVersion,
      new Date().toISOString(),
    );
    writeAudit(db, { actor: by, action: 'chip_profile.added', details: p });
    return { ...p, accepted: true };
  })();
}

/** An admin stops accepting a profile (booklets of it will be refused from now on). */
export function setChipProfileAccepted(
  db: Db,
  by: Actor,
  agencyCode: string,
  profileId: string,
  accepted: boolean,
): void {
  requireRole(by, ['admin'], 'change chip profiles');
  db.transaction(() => {
    const r = db
      .prepare('UPDATE chip_profiles SET accepted = ? WHERE agency_code = ? AND profile_id = ?')
      .run(accepted ? 1 : 0, agencyCode, profileId);
    if (r.changes !== 1)
      throw new InvalidInputError(`agency ${agencyCode} has no chip profile ${profileId}`);
    writeAudit(db, {
      actor: by,
      action: accepted ? 'chip_profile.accepted' : 'chip_profile.withdrawn',
      details: { agencyCode, profileId },
    });
  })();
}

/** The agency's name as recorded in the station (the code when it has none). */
export function agencyName(db: Db, code: string): string {
  const row = preparedOnce(db, 'SELECT name FROM agencies WHERE code = ?').get(code) as
    { name: string } | undefined;
  return row?.name ?? code;
}
