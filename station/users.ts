import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/open.ts';
import { writeAudit } from './audit.ts';
import { AuthenticationError, InvalidInputError, PermissionError, StationError } from './errors.ts';

export const ROLES = ['operator', 'supervisor', 'technician', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A user who has proved who they are; every state change carries one. */
export interface Actor {
  id: number;
  username: string;
  role: Role;
}

export interface UserInfo extends Actor {
  failedAttempts: number;
  locked: boolean;
  disabled: boolean;
  createdAt: string;
}

/** Consecutive failed attempts after which an account is locked until an admin unlocks it. */
export const MAX_FAILED_ATTEMPTS = 5;
export const MIN_SECRET_LENGTH = 6;

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

/**
 * The key custody's PIN pepper: a keyed MAC whose key never leaves the custody (an AES key in
 * the PKCS#11 token, or a key in the development key file; station/keys/pin-pepper.ts). A
 * peppered PIN hash is MAC(key, domain || scrypt(PIN, salt)): with the database alone, not one
 * guess can be checked, so a 6-digit PIN space cannot be searched offline.
 */
export interface PinPepper {
  /** Names the key; stored with each hash so a PIN is checked with the key that made it. */
  readonly label: string;
  /** The MAC (AES-CMAC, 16 bytes) of `data` under the pepper key. */
  mac(data: Uint8Array): Buffer;
}

const PEPPER_DOMAIN = Buffer.from('perso-station/pin-hash/v1\0', 'utf8');
const PEPPER_LABEL = /^[A-Za-z0-9][A-Za-z0-9/._-]{0,63}$/;

/** The PIN pepper this database's sign-ins and new PINs use (set by whoever opened the custody). */
const peppers = new WeakMap<Db, PinPepper>();

/** Attaches the custody's PIN pepper to an open database (undefined detaches it). */
export function usePinPepper(db: Db, pepper: PinPepper | undefined): void {
  if (pepper && !PEPPER_LABEL.test(pepper.label))
    throw new InvalidInputError(`PIN pepper label ${JSON.stringify(pepper.label)} is not valid`);
  if (pepper) peppers.set(db, pepper);
  else peppers.delete(db);
}

/**
 * The label of the pepper key this station's PIN hashes need, or undefined when none is
 * peppered yet.
 */
export function pinPepperLabel(db: Db): string | undefined {
  const h = db
    .prepare("SELECT secret_hash FROM users WHERE secret_hash LIKE 'scrypt-mac$%' LIMIT 1")
    .pluck()
    .get() as string | undefined;
  return h?.split('$')[1];
}

/** The station's PINs are peppered by a custody key that is not open in this process. */
export class PinPepperUnavailableError extends StationError {
  constructor(label: string) {
    super(
      `this station's PINs are protected by the key ${label} in key custody, which is not open: ` +
        'set the environment variable holding the token PIN (or, in development, the key file passphrase) that key-custody.json names',
      'pin_pepper_unavailable',
    );
    this.name = 'PinPepperUnavailableError';
  }
}

function scrypt(secret: string, salt: Buffer, keylen: number, n: number, r: number, p: number) {
  return scryptSync(secret, salt, keylen, { N: n, r, p, maxmem: 256 * 1024 * 1024 });
}

const pepperTag = (pepper: PinPepper, kdfOutput: Uint8Array): Buffer =>
  pepper.mac(Buffer.concat([PEPPER_DOMAIN, kdfOutput]));

/**
 * Hashes a PIN or password with scrypt and a random salt: `scrypt$N$r$p$salt$hash` (base64);
 * with a pepper, `scrypt-mac$label$N$r$p$salt$mac`, the MAC being the pepper's over the
 * scrypt output.
 */
export function hashSecret(secret: string, pepper?: PinPepper): string {
  const salt = randomBytes(16);
  const hash = scrypt(secret, salt, SCRYPT.keylen, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  const params = `${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}`;
  if (!pepper) return `scrypt$${params}$${hash.toString('base64')}`;
  return `scrypt-mac$${pepper.label}$${params}$${pepperTag(pepper, hash).toString('base64')}`;
}

/**
 * Checks a secret against a stored hash in constant time. A peppered hash needs its pepper:
 * without it (after running the KDF all the same) PinPepperUnavailableError.
 */
export function verifySecret(secret: string, stored: string, pepper?: PinPepper): boolean {
  const parts = stored.split('$');
  const peppered = parts[0] === 'scrypt-mac' && parts.length === 7;
  if (!peppered && (parts[0] !== 'scrypt' || parts.length !== 6)) return false;
  const label = peppered ? parts[1]! : undefined;
  const [n, r, p, saltB64, tagB64] = parts.slice(peppered ? 2 : 1) as [
    string,
    string,
    string,
    string,
    string,
  ];
  const expected = Buffer.from(tagB64, 'base64');
  const actual = scrypt(
    secret,
    Buffer.from(saltB64, 'base64'),
    peppered ? SCRYPT.keylen : expected.length,
    Number(n),
    Number(r),
    Number(p),
  );
  if (label === undefined) return timingSafeEqual(actual, expected);
  if (pepper?.label !== label) throw new PinPepperUnavailableError(label);
  const tag = pepperTag(pepper, actual);
  return tag.length === expected.length && timingSafeEqual(tag, expected);
}

/** A hash for a new PIN of this station: peppered when the station's PINs are. */
function hashForStation(db: Db, secret: string): string {
  const pepper = peppers.get(db);
  if (!pepper) {
    const label = pinPepperLabel(db);
    if (label) throw new PinPepperUnavailableError(label);
  }
  return hashSecret(secret, pepper);
}

/**
 * Peppers every PIN hash that is not yet (admin): `scrypt$…$hash` becomes
 * `scrypt-mac$label$…$MAC(domain || hash)`, the same value a sign-in computes, so no PIN is
 * needed and every user keeps theirs. Audited; returns how many it changed.
 */
export function pepperStoredPins(db: Db, by: Actor, at = new Date()): number {
  requireRole(by, ['admin'], 'protect the stored PINs with the key custody');
  const pepper = peppers.get(db);
  if (!pepper)
    throw new InvalidInputError('no PIN pepper is open: open the key custody that holds it first');
  return db.transaction(() => {
    const other = pinPepperLabel(db);
    if (other !== undefined && other !== pepper.label)
      throw new InvalidInputError(
        `the stored PINs are peppered with ${other}, not with ${pepper.label}`,
      );
    const rows = db
      .prepare("SELECT id, secret_hash FROM users WHERE secret_hash LIKE 'scrypt$%'")
      .all() as { id: number; secret_hash: string }[];
    const update = db.prepare('UPDATE users SET secret_hash = ? WHERE id = ?');
    for (const row of rows) {
      const [, n, r, p, salt, hash] = row.secret_hash.split('$');
      const tag = pepperTag(pepper, Buffer.from(hash!, 'base64')).toString('base64');
      update.run(`scrypt-mac$${pepper.label}$${n}$${r}$${p}$${salt}$${tag}`, row.id);
    }
    writeAudit(db, {
      actor: by,
      action: 'users.pins_peppered',
      details: { key: pepper.label, users: rows.length },
      at,
    });
    return rows.length;
  })();
}

// Burnt on unknown user names so a wrong name costs as long as a wrong PIN (one per pepper).
const dummyHashes = new Map<string, string>();
function dummyHash(pepper: PinPepper | undefined): string {
  const key = pepper?.label ?? '';
  let h = dummyHashes.get(key);
  if (!h) dummyHashes.set(key, (h = hashSecret('not-a-real-secret', pepper)));
  return h;
}

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

function checkUsername(name: string): void {
  if (!/^[a-z][a-z0-9._-]{1,31}$/.test(name))
    throw new InvalidInputError(
      `user name ${JSON.stringify(name)} is not valid: use 2-32 lower-case letters, digits, '.', '_' or '-', starting with a letter`,
    );
}

export function checkSecretStrength(secret: string): void {
  if (secret.length < MIN_SECRET_LENGTH)
    throw new InvalidInputError(
      `the PIN or password must have at least ${MIN_SECRET_LENGTH} characters`,
    );
  if (/^(.)\1*$/.test(secret))
    throw new InvalidInputError('the PIN or password must not repeat a single character');
}

interface UserRow {
  id: number;
  username: string;
  role: Role;
  secret_hash: string;
  failed_attempts: number;
  locked: number;
  disabled: number;
  created_at: string;
}

function toInfo(r: UserRow): UserInfo {
  return {
    id: r.id,
    username: r.username,
    role: r.role,
    failedAttempts: r.failed_attempts,
    locked: r.locked === 1,
    disabled: r.disabled === 1,
    createdAt: r.created_at,
  };
}

export function findUser(db: Db, username: string): UserInfo | undefined {
  const r = db.prepare('SELECT * FROM users WHERE username = ?').get(username) as
    UserRow | undefined;
  return r ? toInfo(r) : undefined;
}

export function listUsers(db: Db): UserInfo[] {
  return (db.prepare('SELECT * FROM users ORDER BY username').all() as UserRow[]).map(toInfo);
}

/** Throws PermissionError unless the actor has one of the roles. */
export function requireRole(actor: Actor, roles: readonly Role[], action: string): void {
  if (!roles.includes(actor.role))
    throw new PermissionError(
      `${actor.username} (${actor.role}) may not ${action}: it needs the role ${roles.join(' or ')}`,
    );
}

/**
 * Inserts a user without an acting user. Only for bootstrapping the first admin
 * (`station init`); everything else goes through createUser.
 */
export function insertFirstAdmin(db: Db, username: string, secret: string, at = new Date()): Actor {
  checkUsername(username);
  checkSecretStrength(secret);
  const n = (db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  if (n > 0) throw new PermissionError('the first admin exists already');
  const r = db
    .prepare('INSERT INTO users (username, role, secret_hash, created_at) VALUES (?, ?, ?, ?)')
    .run(username, 'admin', hashForStation(db, secret), at.toISOString());
  return { id: Number(r.lastInsertRowid), username, role: 'admin' };
}

/** An admin creates a user. */
export function createUser(
  db: Db,
  by: Actor,
  user: { username: string; role: Role; secret: string },
  at = new Date(),
): Actor {
  requireRole(by, ['admin'], 'create users');
  checkUsername(user.username);
  if (!isRole(user.role))
    throw new InvalidInputError(
      `role ${JSON.stringify(user.role)} is not one of ${ROLES.join(', ')}`,
    );
  checkSecretStrength(user.secret);
  const secretHash = hashForStation(db, user.secret);
  return db.transaction(() => {
    if (findUser(db, user.username))
      throw new InvalidInputError(`a user named ${user.username} exists already`);
    const r = db
      .prepare('INSERT INTO users (username, role, secret_hash, created_at) VALUES (?, ?, ?, ?)')
      .run(user.username, user.role, secretHash, at.toISOString());
    writeAudit(db, {
      actor: by,
      action: 'user.created',
      details: { username: user.username, role: user.role },
      at,
    });
    return { id: Number(r.lastInsertRowid), username: user.username, role: user.role };
  })();
}

/**
 * The one answer to every refused sign-in: an unknown user, a wrong PIN, a locked or a
 * disabled account all read the same, so the answer tells a guesser nothing (the audit log
 * records which it was, for the admin).
 */
export const SIGN_IN_REFUSED =
  'unknown user or wrong PIN, or the account is locked or disabled (an admin can unlock it)';

/**
 * Checks a user name and PIN. A wrong PIN counts a failure; after MAX_FAILED_ATTEMPTS in a row
 * the account locks. Failures and lockouts are audited; the PIN never is. Every attempt runs
 * the same KDF once (over the user's hash, or a dummy one for an unknown name) before anything
 * is decided, and every refusal throws the same AuthenticationError, so neither the answer nor
 * its timing says whether the name exists, the PIN was right, or the account is locked or
 * disabled.
 */
export function authenticate(db: Db, username: string, secret: string, at = new Date()): Actor {
  const row = db.prepare('SELECT * FROM users WHERE username = ?').get(username) as
    UserRow | undefined;
  const pepper = peppers.get(db);
  // A station whose PINs need the custody's pepper says so to everyone alike, before any PIN.
  if (!pepper) {
    const label = pinPepperLabel(db);
    if (label) throw new PinPepperUnavailableError(label);
  }
  const dummy = dummyHash(pepper);
  const secretMatches = verifySecret(secret, row?.secret_hash ?? dummy, pepper);
  const refuse = (reason: string, extra: Record<string, unknown> = {}): never => {
    db.transaction(() =>
      writeAudit(db, { actor: username, action: 'auth.failed', details: { reason, ...extra }, at }),
    )();
    throw new AuthenticationError(SIGN_IN_REFUSED);
  };
  if (!row) return refuse('unknown user');
  if (row.disabled === 1) return refuse('disabled');
  if (row.locked === 1) return refuse('locked');
  if (!secretMatches) {
    const failed = row.failed_attempts + 1;
    const lock = failed >= MAX_FAILED_ATTEMPTS;
    db.transaction(() => {
      db.prepare('UPDATE users SET failed_attempts = ?, locked = ? WHERE id = ?').run(
        failed,
        lock ? 1 : 0,
        row.id,
      );
      writeAudit(db, {
        actor: username,
        action: 'auth.failed',
        details: { reason: 'wrong secret', failedAttempts: failed },
        at,
      });
      if (lock)
        writeAudit(db, {
          actor: username,
          action: 'user.locked',
          details: { failedAttempts: failed },
          at,
        });
    })();
    throw new AuthenticationError(SIGN_IN_REFUSED);
  }
  if (row.failed_attempts > 0)
    db.prepare('UPDATE users SET failed_attempts = 0 WHERE id = ?').run(row.id);
  return { id: row.id, username: row.username, role: row.role };
}

/** Authenticates and checks the role in one step. */
export function authenticateWithRole(
  db: Db,
  username: string,
  secret: string,
  roles: readonly Role[],
  action: string,
): Actor {
  const actor = authenticate(db, username, secret);
  requireRole(actor, roles, action);
  return actor;
}

function changeUser(
  db: Db,
  by: Actor,
  username: string,
  sql: string,
  action: string,
  params: unknown[] = [],
  at = new Date(),
): void {
  requireRole(by, ['admin'], action.replace('user.', '') + ' users');
  db.transaction(() => {
    const u = findUser(db, username);
    if (!u) throw new InvalidInputError(`no user named ${username}`);
    db.prepare(sql).run(...params, u.id);
    writeAudit(db, { actor: by, action, details: { username }, at });
  })();
}

export function unlockUser(db: Db, by: Actor, username: string): void {
  changeUser(
    db,
    by,
    username,
    'UPDATE users SET locked = 0, failed_attempts = 0 WHERE id = ?',
    'user.unlocked',
  );
}

export function disableUser(db: Db, by: Actor, username: string): void {
  if (by.username === username)
    throw new InvalidInputError('an admin cannot disable their own account');
  changeUser(db, by, username, 'UPDATE users SET disabled = 1 WHERE id = ?', 'user.disabled');
}

export function setUserSecret(db: Db, by: Actor, username: string, secret: string): void {
  if (by.username !== username) requireRole(by, ['admin'], "set another user's PIN");
  checkSecretStrength(secret);
  const h = hashForStation(db, secret);
  db.transaction(() => {
    const u = findUser(db, username);
    if (!u) throw new InvalidInputError(`no user named ${username}`);
    db.prepare(
      'UPDATE users SET secret_hash = ?, failed_attempts = 0, locked = 0 WHERE id = ?',
    ).run(h, u.id);
    writeAudit(db, { actor: by, action: 'user.secret_changed', details: { username } });
  })();
}
