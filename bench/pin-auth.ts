/**
 * Sign-in cost and offline PIN-guess cost (station/users.ts): the median time of one sign-in
 * with a right PIN, a wrong PIN and a locked account, with the PIN pepper computed in a
 * PKCS#11 token (SoftHSM2) when it is installed, else in software; and what one offline guess
 * costs someone holding a copy of the database: one scrypt run per guess for an unpeppered
 * hash (times 10^6 for a 6-digit PIN), and no check at all for a peppered one.
 *
 *   node bin/run-ts.mjs bench/pin-auth.ts [--runs 15]
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { aesCmac } from '../mrtd/cmac.ts';
import {
  createPinPepperKey,
  Pkcs11TransportKeyCustody,
  pinPepperOf,
} from '../station/keys/index.ts';
import { createTestStation, TEST_SECRET } from '../station/testing.ts';
import {
  authenticate,
  MAX_FAILED_ATTEMPTS,
  pepperStoredPins,
  PinPepperUnavailableError,
  usePinPepper,
  verifySecret,
  type PinPepper,
} from '../station/users.ts';
import { createSoftHsmToken, SOFTHSM_MODULE } from '../test/helpers/softhsm.ts';

const i = process.argv.indexOf('--runs');
const RUNS = i > 0 ? Number(process.argv[i + 1]) : 15;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = (fn: () => unknown): number => {
  const t = performance.now();
  try {
    fn();
  } catch {
    // refused sign-ins are what is measured too
  }
  return performance.now() - t;
};

const st = createTestStation();
let pepper: PinPepper;
let custody: Pkcs11TransportKeyCustody | undefined;
let cleanup = (): void => {};
if (existsSync(SOFTHSM_MODULE)) {
  const token = createSoftHsmToken('pin-bench');
  cleanup = token.cleanup;
  const target = { module: token.module, token: token.label, pin: token.userPin };
  createPinPepperKey(target);
  custody = Pkcs11TransportKeyCustody.open(target);
  pepper = pinPepperOf(custody)!;
  console.log('PIN pepper: AES-256 CMAC in a SoftHSM2 token');
} else {
  const key = randomBytes(32);
  pepper = { label: 'station/pin-pepper', mac: (d) => aesCmac(key, d) };
  console.log('PIN pepper: AES-256 CMAC in software (SoftHSM2 not installed)');
}

const unpepperedHash = st.db
  .prepare("SELECT secret_hash FROM users WHERE username = 'oper'")
  .pluck()
  .get() as string;
usePinPepper(st.db, pepper);
pepperStoredPins(st.db, st.users.admin);
for (let k = 0; k < MAX_FAILED_ATTEMPTS; k++) time(() => authenticate(st.db, 'tech', 'nope-nope'));
const cases: [string, () => unknown][] = [
  ['right PIN', () => authenticate(st.db, 'oper', TEST_SECRET)],
  ['wrong PIN', () => authenticate(st.db, 'super', 'nope-nope')],
  ['locked account', () => authenticate(st.db, 'tech', TEST_SECRET)],
  ['unknown user', () => authenticate(st.db, 'nobody', TEST_SECRET)],
];
for (const [what, fn] of cases) {
  const ts = Array.from({ length: RUNS }, () => time(fn));
  console.log(`sign-in, ${what.padEnd(15)} median ${median(ts).toFixed(1)} ms (${RUNS} runs)`);
  if (what === 'right PIN') st.db.prepare('UPDATE users SET failed_attempts = 0').run();
}

// Offline, with a copy of the database: an unpeppered hash is checked with one scrypt per guess.
const [, n, r, p, salt] = unpepperedHash.split('$');
const guesses = Array.from({ length: RUNS }, () =>
  time(() =>
    scryptSync(
      String(Math.floor(Math.random() * 1e6)).padStart(6, '0'),
      Buffer.from(salt!, 'base64'),
      32,
      {
        N: Number(n),
        r: Number(r),
        p: Number(p),
        maxmem: 256 * 1024 * 1024,
      },
    ),
  ),
);
const perGuess = median(guesses);
console.log(
  `offline guess, unpeppered hash: median ${perGuess.toFixed(1)} ms; all 10^6 six-digit PINs: ${((perGuess * 1e6) / 3.6e6).toFixed(1)} CPU-hours`,
);
// A peppered one cannot be checked without the custody's key (2^256 keys to try instead).
const peppered = st.db
  .prepare("SELECT secret_hash FROM users WHERE username = 'oper'")
  .pluck()
  .get() as string;
try {
  verifySecret(TEST_SECRET, peppered);
  console.log('offline guess, peppered hash: CHECKED WITHOUT THE KEY (this is a bug)');
  process.exitCode = 1;
} catch (e) {
  if (!(e instanceof PinPepperUnavailableError)) throw e;
  console.log(
    'offline guess, peppered hash: cannot be checked without the custody key (even the right PIN)',
  );
}
await custody?.close();
st.close();
cleanup();
