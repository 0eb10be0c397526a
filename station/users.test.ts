import * as crypto from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { listAudit } from './audit.ts';
import { AuthenticationError, PermissionError } from './errors.ts';
import { TEST_SECRET, createTestStation, type TestStation } from './testing.ts';
import {
  authenticate,
  authenticateWithRole,
  createUser,
  disableUser,
  hashSecret,
  MAX_FAILED_ATTEMPTS,
  SIGN_IN_REFUSED,
  unlockUser,
  verifySecret,
} from './users.ts';

// Counts the KDF runs of a sign-in (the real scrypt still runs).
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof crypto>();
  return { ...real, scryptSync: vi.fn(real.scryptSync) };
});
const scryptCalls = (): number => vi.mocked(crypto.scryptSync).mock.calls.length;

let st: TestStation;
beforeEach(() => {
  st = createTestStation();
});
afterEach(() => st.close());

describe('users', () => {
  it('hashes with scrypt and a random salt', () => {
    const a = hashSecret('482913');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(a).not.toBe(hashSecret('482913'));
    expect(verifySecret('482913', a)).toBe(true);
    expect(verifySecret('482914', a)).toBe(false);
    const stored = st.db.prepare('SELECT secret_hash FROM users').pluck().all() as string[];
    expect(stored.every((h) => !h.includes(TEST_SECRET))).toBe(true);
  });

  it('authenticates and checks roles', () => {
    expect(authenticate(st.db, 'oper', TEST_SECRET)).toMatchObject({
      username: 'oper',
      role: 'operator',
    });
    expect(() =>
      authenticateWithRole(st.db, 'oper', TEST_SECRET, ['supervisor'], 'allocate'),
    ).toThrow(PermissionError);
    expect(() =>
      createUser(st.db, st.users.supervisor, { username: 'x1', role: 'admin', secret: 'abcdef12' }),
    ).toThrow(PermissionError);
  });

  it(`locks an account after ${MAX_FAILED_ATTEMPTS} failures; an admin unlocks it`, () => {
    for (let i = 0; i < MAX_FAILED_ATTEMPTS - 1; i++)
      expect(() => authenticate(st.db, 'oper', 'wrong-pin')).toThrow('unknown user or wrong PIN');
    expect(() => authenticate(st.db, 'oper', 'wrong-pin')).toThrow(SIGN_IN_REFUSED);
    expect(() => authenticate(st.db, 'oper', TEST_SECRET)).toThrow(AuthenticationError);
    expect(() => authenticate(st.db, 'oper', TEST_SECRET)).toThrow(SIGN_IN_REFUSED);
    const actions = listAudit(st.db).map((e) => e.action);
    expect(actions).toContain('user.locked');
    expect(JSON.stringify(listAudit(st.db))).not.toContain('wrong-pin');
    unlockUser(st.db, st.users.admin, 'oper');
    expect(authenticate(st.db, 'oper', TEST_SECRET).username).toBe('oper');
  });

  it('resets the failure count on success', () => {
    expect(() => authenticate(st.db, 'oper', 'wrong-pin')).toThrow();
    authenticate(st.db, 'oper', TEST_SECRET);
    for (let i = 0; i < MAX_FAILED_ATTEMPTS - 1; i++)
      expect(() => authenticate(st.db, 'oper', 'nope-nope')).toThrow();
    expect(authenticate(st.db, 'oper', TEST_SECRET).username).toBe('oper');
  });

  it('refuses weak secrets and bad names', () => {
    const admin = st.users.admin;
    expect(() =>
      createUser(st.db, admin, { username: 'ab', role: 'operator', secret: '123' }),
    ).toThrow(/at least 6/);
    expect(() =>
      createUser(st.db, admin, { username: 'Bad Name', role: 'operator', secret: 'abcdef12' }),
    ).toThrow(/not valid/);
  });

  it('answers an unknown name, a wrong PIN, a locked and a disabled account alike, after one KDF each', () => {
    for (let i = 0; i < MAX_FAILED_ATTEMPTS; i++)
      expect(() => authenticate(st.db, 'tech', 'nope-nope')).toThrow();
    disableUser(st.db, st.users.admin, 'super');
    const attempts: [string, string, string][] = [
      ['wrong PIN', 'oper', 'nope-nope'],
      ['locked, right PIN', 'tech', TEST_SECRET],
      ['locked, wrong PIN', 'tech', 'nope-nope'],
      ['disabled, right PIN', 'super', TEST_SECRET],
      ['disabled, wrong PIN', 'super', 'nope-nope'],
      ['unknown user', 'nobody', TEST_SECRET],
    ];
    for (const [what, name, secret] of attempts) {
      const before = scryptCalls();
      let err: unknown;
      try {
        authenticate(st.db, name, secret);
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(AuthenticationError);
      expect({ what, message: (err as AuthenticationError).message }).toEqual({
        what,
        message: SIGN_IN_REFUSED,
      });
      expect({ what, code: (err as AuthenticationError).code }).toEqual({
        what,
        code: 'authentication_failed',
      });
      expect({ what, kdfRuns: scryptCalls() - before }).toEqual({ what, kdfRuns: 1 });
    }
    // The admin still learns which it was from the audit log.
    const reasons = listAudit(st.db)
      .filter((e) => e.action === 'auth.failed')
      .map((e) => (e.details as { reason: string }).reason);
    expect(reasons.slice(-6)).toEqual([
      'wrong secret',
      'locked',
      'locked',
      'disabled',
      'disabled',
      'unknown user',
    ]);
  });
});
