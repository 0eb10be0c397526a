import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listAudit } from './audit.ts';
import { AuthenticationError, PermissionError } from './errors.ts';
import { TEST_SECRET, createTestStation, type TestStation } from './testing.ts';
import {
  authenticate,
  authenticateWithRole,
  createUser,
  hashSecret,
  MAX_FAILED_ATTEMPTS,
  unlockUser,
  verifySecret,
} from './users.ts';

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
    expect(() => authenticate(st.db, 'oper', 'wrong-pin')).toThrow(/now locked/);
    expect(() => authenticate(st.db, 'oper', TEST_SECRET)).toThrow(AuthenticationError);
    expect(() => authenticate(st.db, 'oper', TEST_SECRET)).toThrow(/locked/);
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
});
