import * as crypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
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
  pepperStoredPins,
  PinPepperUnavailableError,
  setUserSecret,
  SIGN_IN_REFUSED,
  unlockUser,
  usePinPepper,
  verifySecret,
  type PinPepper,
} from './users.ts';
import { aesCmac } from '../mrtd/cmac.ts';

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

  describe('PIN pepper from key custody', () => {
    // A pepper as the development key file computes it: AES-CMAC under a random AES-256 key.
    const pepperWith = (key: Buffer): PinPepper => ({
      label: 'station/pin-pepper',
      mac: (data) => aesCmac(key, data),
    });
    const pepper = pepperWith(randomBytes(32));

    it('protects the stored PINs so the database alone cannot check one; users keep their PINs', () => {
      const before = st.db.prepare('SELECT username, secret_hash FROM users').all() as {
        username: string;
        secret_hash: string;
      }[];
      usePinPepper(st.db, pepper);
      expect(() => pepperStoredPins(st.db, st.users.supervisor)).toThrow(PermissionError);
      expect(pepperStoredPins(st.db, st.users.admin)).toBe(before.length);
      const after = st.db.prepare('SELECT secret_hash FROM users').pluck().all() as string[];
      expect(after.every((h) => h.startsWith('scrypt-mac$station/pin-pepper$16384$8$1$'))).toBe(
        true,
      );
      // Same salt, new tag: the MAC of the old scrypt output, so every PIN still works.
      expect(after.map((h) => h.split('$')[5])).toEqual(
        before.map((b) => b.secret_hash.split('$')[4]),
      );
      expect(authenticate(st.db, 'oper', TEST_SECRET).username).toBe('oper');
      expect(() => authenticate(st.db, 'oper', 'nope-nope')).toThrow(SIGN_IN_REFUSED);
      // New PINs are peppered too.
      createUser(st.db, st.users.admin, { username: 'newbie', role: 'operator', secret: '739204' });
      expect(authenticate(st.db, 'newbie', '739204').username).toBe('newbie');
      expect(listAudit(st.db).some((e) => e.action === 'users.pins_peppered')).toBe(true);

      // With the database alone (no pepper), no PIN can be checked, right or wrong, and no new
      // PIN can be stored unprotected.
      const stored = after[0]!;
      expect(() => verifySecret(TEST_SECRET, stored)).toThrow(PinPepperUnavailableError);
      usePinPepper(st.db, undefined);
      for (const [name, secret] of [
        ['oper', TEST_SECRET],
        ['oper', 'nope-nope'],
        ['nobody', TEST_SECRET],
      ] as const)
        expect(() => authenticate(st.db, name, secret)).toThrow(PinPepperUnavailableError);
      expect(() => setUserSecret(st.db, st.users.admin, 'oper', '551902')).toThrow(
        PinPepperUnavailableError,
      );
      // Another key under the same name checks nothing either: the right PIN is refused.
      usePinPepper(st.db, pepperWith(randomBytes(32)));
      expect(() => authenticate(st.db, 'newbie', '739204')).toThrow(SIGN_IN_REFUSED);
    });
  });
});
